"""``corenn gradcheck``'s line about parameters: a layer without any (dropout, pool2d) is not
said to have had its parameters moved."""

import pytest

from suite_helpers import run_command


@pytest.mark.parametrize("name", ["dropout", "pool2d"])
@pytest.mark.parametrize("flags", [(), ("--initial-parameters",)])
def test_a_layer_without_parameters_says_it_has_none(capsys, name, flags):
    code, out, _ = run_command(capsys, "gradcheck", "layer", name, *flags)
    assert code == 0, out
    lines = out.splitlines()
    assert "  no parameters: only the input's gradient is checked" in lines
    assert not any("parameters moved" in line or "as the layer made them" in line for line in lines)
    assert [line.split()[0] for line in lines if line.startswith("  d/d")] == ["d/dX"]


def test_a_layer_with_parameters_still_says_they_moved(capsys):
    code, out, _ = run_command(capsys, "gradcheck", "layer", "conv2d")
    assert code == 0, out
    assert "  parameters moved to random values (seed 0); --initial-parameters checks them as made" in out.splitlines()
    assert "no parameters" not in out
