"""``corenn listing`` and the math: a class comes after the reference code of the kernels it
calls (so fully_connected's docstring, "the math is the two kernels above", is true), a declared
kernel is listed by the name ``corenn kernels`` shows (``kernel:NAME``), a module of overrides
(``kernels:MODULE``) has a heading a reader can read, and a mistyped method is answered with the
public methods and a "did you mean"."""

import argparse
import inspect
import textwrap

import pytest

from corenn.cli import listing as listing_command
from corenn.cli.source_listings import render_listing
from corenn.errors import ConfigError, UnknownComponentError
from corenn.plugins import get_registry
from corenn.registry import Registration, Registry

from suite_helpers import run_command

FC_NOTE = (
    "The reference code of the kernels it calls (`fully_connected_forward`, `fully_connected_backward`: the "
    "math, as `corenn train --kernels reference` runs it), then the class."
)


def source(obj):
    return inspect.getsource(obj).rstrip("\n")


def fc_module():
    return inspect.getmodule(get_registry().get("layer", "fully_connected").load())


def code_blocks(text):
    return [block.split("\n```", 1)[0] for block in text.split("```python\n")[1:]]


def test_a_layer_listing_puts_its_kernels_references_above_the_class():
    module = fc_module()
    text = render_listing(["layer:fully_connected"])
    lines = text.splitlines()
    assert lines[:3] == ["## layer `fully_connected`: `corenn_fc.fully_connected.FullyConnected`", "", FC_NOTE]
    assert code_blocks(text) == [
        source(module.fully_connected_forward.reference),
        source(module.fully_connected_backward.reference),
        source(module.FullyConnected),
    ]
    assert "The math is the two kernels above" in code_blocks(text)[2]


def test_chosen_methods_come_after_the_kernels_they_call():
    module = fc_module()
    text = render_listing(["layer:fully_connected"], methods="backward")
    assert text.splitlines()[2] == FC_NOTE.replace("`fully_connected_forward`, ", "").replace(
        "then the class", "then its methods"
    )
    assert code_blocks(text) == [
        source(module.fully_connected_backward.reference),
        textwrap.dedent(source(module.FullyConnected.backward)),
    ]


def test_the_kernels_are_left_out_on_request(capsys):
    code, out, _ = run_command(capsys, "listing", "layer:fully_connected", "--no-kernels")
    assert code == 0
    assert out.splitlines()[2] == "```python"
    assert out.splitlines()[3] == "class FullyConnected(ProductLayer):"
    assert "def fully_connected_forward" not in out


def test_the_note_is_latex_too():
    text = render_listing(["activation:relu"], methods="forward", fmt="latex")
    assert text.splitlines()[2] == (
        "The reference code of the kernels it calls (\\texttt{relu\\_forward}: the math, as "
        "\\texttt{corenn train --kernels reference} runs it), then its methods."
    )
    assert text.count("\\begin{lstlisting}") == 2


def test_a_declared_kernel_is_listed_by_its_name(capsys):
    module = fc_module()
    code, out, _ = run_command(capsys, "listing", "kernel:fully_connected_forward")
    assert code == 0
    assert out == (
        "## kernel `fully_connected_forward`: `corenn_fc.fully_connected.fully_connected_forward`\n\n"
        "The reference (the course's math); on numpy the reference runs (it has no override of it).\n\n"
        f"```python\n{source(module.fully_connected_forward.reference)}\n```\n"
    )


def test_a_kernel_with_an_override_says_which_runs():
    text = render_listing(["kernel:conv2d_forward"])
    assert text.splitlines()[2] == (
        "The reference (the course's math); numpy runs its override `corenn_conv.fast.conv2d_forward_im2col` "
        "(`corenn listing kernels:corenn_conv.fast`)."
    )
    assert code_blocks(text)[0].splitlines()[1].startswith("def conv2d_forward(X, W, b, geometry")


def test_an_unknown_kernel_says_what_is_declared():
    with pytest.raises(UnknownComponentError) as error:
        render_listing(["kernel:fully_connected_forwrd"])
    message = str(error.value)
    assert message.startswith(
        "unknown kernel 'fully_connected_forwrd' (did you mean 'fully_connected_forward'?); declared kernels "
        "(corenn kernels lists them): "
    )
    assert "conv2d_forward, " in message and "kernelss" not in message


def test_a_kernels_name_given_as_a_module_of_overrides_points_at_kernel(capsys):
    code, _, err = run_command(capsys, "listing", "kernels:fully_connected_forward")
    assert code == 1
    assert err.startswith("corenn listing: error: no module of kernel overrides 'fully_connected_forward' for backend ")
    assert err.rstrip("\n").endswith(
        "; 'fully_connected_forward' is a declared kernel: list its reference as kernel:fully_connected_forward"
    )
    assert "kernelss" not in err


def test_a_module_of_overrides_has_a_readable_heading_and_its_functions_can_be_picked():
    text = render_listing(["kernels:corenn_fc.fast"])
    assert text.splitlines()[0] == "## kernels `corenn_fc.fast`: the numpy backend's kernel overrides"
    assert "<module" not in text
    picked = render_listing(["kernels:corenn_fc.fast"], methods="relu_backward_masked")
    assert code_blocks(picked)[0].splitlines()[1].startswith("def relu_backward_masked(")
    with pytest.raises(
        ConfigError, match=r"has no function 'relu_backward_maskd' \(did you mean 'relu_backward_masked'"
    ):
        render_listing(["kernels:corenn_fc.fast"], methods="relu_backward_maskd")


class WithPrivateParts:
    def __init__(self):
        self._cache = {}

    def forward(self, X):
        return X

    def backward(self, dLdY):
        return dLdY

    def _get_cache(self):
        return self._cache

    def __repr__(self):
        return "WithPrivateParts()"


def test_a_mistyped_method_gets_a_did_you_mean_and_the_public_methods():
    registry = Registry()
    registry.add_all([Registration("layer", "private", "numpy", WithPrivateParts, "tests", "tests-dist")])
    with pytest.raises(ConfigError) as error:
        render_listing(["layer:private"], methods="forwrd", registry=registry)
    assert str(error.value) == (
        "layer 'private' (WithPrivateParts) has no method 'forwrd' (did you mean 'forward'?); its methods are: "
        "__init__, forward, backward"
    )
    # a private method is still listed when named
    assert "def _get_cache(self):" in render_listing(["layer:private"], methods="_get_cache", registry=registry)


def test_fully_connecteds_methods_leave_out_private_ones():
    with pytest.raises(ConfigError) as error:
        render_listing(["layer:fully_connected"], methods="forwrd")
    message = str(error.value)
    assert "(did you mean 'forward'?)" in message
    methods = message.split("its methods are: ")[1].split(", ")
    assert "forward" in methods and "backward" in methods and "__init__" in methods
    assert not [name for name in methods if name.startswith("_") and name != "__init__"]


def test_the_command_passes_no_kernels():
    parser = argparse.ArgumentParser()
    listing_command.add_arguments(parser)
    assert parser.parse_args(["layer:fully_connected"]).kernels is True
    assert parser.parse_args(["layer:fully_connected", "--no-kernels"]).kernels is False
