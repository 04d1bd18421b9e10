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


@pytest.mark.parametrize(
    ("flags", "references", "header"),
    [((), False, ""), (("--kernels", "reference"), True, ", the kernels' references alone")],
)
def test_kernels_reference_checks_the_references_alone(capsys, monkeypatch, flags, references, header):
    """A check that fails with the overrides and passes with the references blames an override."""
    import corenn.testing
    from corenn.kernels import using_references

    real, seen = corenn.testing.gradcheck, []

    def spy(*args, **kwargs):
        seen.append(using_references())
        return real(*args, **kwargs)

    monkeypatch.setattr(corenn.testing, "gradcheck", spy)
    code, out, _ = run_command(capsys, "gradcheck", "layer", "conv2d", *flags)
    assert code == 0 and seen == [references]
    assert out.splitlines()[0].startswith(f"layer conv2d (numpy{header}), input ")
    assert not using_references()  # only for the check
