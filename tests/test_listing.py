"""``corenn listing``: source listings of registered components as Markdown or LaTeX."""

import argparse
import inspect

import pytest

from corenn.cli import listing as listing_command
from corenn.cli.source_listings import latex_escape, parse_component_spec, render_listing, write_listing
from corenn.errors import ConfigError, UnknownComponentError
from corenn.plugins import get_registry
from corenn.registry import Registration, Registry


class ScaledBase:
    """A base class, so that an inherited method can be listed."""

    def describe(self):
        return f"scale {self.scale}"


class Scaled(ScaledBase):
    """Multiplies its input by ``scale``."""

    def __init__(self, scale=2.0):
        self.scale = scale

    def forward(self, X):
        return X * self.scale

    def backward(self, dLdY):
        return dLdY * self.scale


class FencedDocstring:
    """Shows a Markdown example:

    ````python
    ```nested```
    ````
    """

    def forward(self, X):
        return X


class EndsListing:
    def forward(self, X):
        return "\\end{lstlisting}"


def make_twice():
    """A factory function rather than a class."""
    return Scaled(2.0)


def qualified(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


@pytest.fixture
def registry():
    table = Registry()
    entries = [
        ("layer", "scaled", "numpy", Scaled),
        ("layer", "scaled", "torch", Scaled),
        ("layer", "fenced", "numpy", FencedDocstring),
        ("layer", "ends_listing", "numpy", EndsListing),
        ("activation", "twice", "numpy", make_twice),
    ]
    table.add_all(
        Registration(kind, name, backend, factory, "tests", "tests-dist") for kind, name, backend, factory in entries
    )
    return table


def test_parse_component_spec():
    assert parse_component_spec("layer:fully_connected") == ("layer", "fully_connected")
    assert parse_component_spec(" loss : l2 ") == ("loss", "l2")


@pytest.mark.parametrize("spec", ["fully_connected", "layer:", ":relu", "layer:a:b"])
def test_malformed_spec_says_the_form(spec):
    with pytest.raises(ConfigError, match="KIND:NAME"):
        parse_component_spec(spec)


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ConfigError) as error:
        parse_component_spec("layers:fully_connected")
    assert str(error.value) == (
        "component 'layers:fully_connected' has unknown kind 'layers' (did you mean 'layer'?); kinds are: layer, "
        "activation, loss, optimizer, scheduler, initializer, dataset, backend, kernels, kernel"
    )


def test_whole_class_as_markdown(registry):
    text = render_listing(["layer:scaled"], registry=registry)
    lines = text.splitlines()
    assert lines[0] == f"## layer `scaled`: `{qualified(Scaled)}`"
    assert lines[1] == ""
    assert lines[2] == "```python"
    assert lines[3] == "class Scaled(ScaledBase):"
    assert lines[-1] == "```"
    body = "\n".join(lines[3:-1])
    assert "    def forward(self, X):" in body and "    def backward(self, dLdY):" in body
    assert "def describe" not in body


def test_chosen_methods_are_dedented_blocks_in_the_order_asked(registry):
    text = render_listing(["layer:scaled"], methods="backward, forward", registry=registry)
    blocks = text.split("```python\n")[1:]
    assert [block.splitlines()[0] for block in blocks] == ["def backward(self, dLdY):", "def forward(self, X):"]
    assert "class Scaled" not in text
    assert "__init__" not in text


def test_inherited_method_shows_the_code_that_runs(registry):
    text = render_listing(["layer:scaled"], methods=["describe"], registry=registry)
    assert 'def describe(self):\n    return f"scale {self.scale}"' in text


def test_missing_method_lists_the_class_methods(registry):
    with pytest.raises(ConfigError) as error:
        render_listing(["layer:scaled"], methods="forward,fwd", registry=registry)
    message = str(error.value)
    assert "has no method 'fwd'" in message
    assert "its methods are: describe, __init__, forward, backward" in message


def test_methods_of_a_factory_function_are_refused(registry):
    with pytest.raises(ConfigError, match="function .*make_twice, which has no methods"):
        render_listing(["activation:twice"], methods="forward", registry=registry)


def test_factory_function_listed_whole(registry):
    text = render_listing(["activation:twice"], registry=registry)
    assert f"`{qualified(make_twice)}`" in text
    assert 'def make_twice():\n    """A factory function rather than a class."""\n    return Scaled(2.0)' in text


def test_several_components_in_order_with_level(registry):
    text = render_listing(["activation:twice", "layer:scaled"], level=3, registry=registry)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        f"### activation `twice`: `{qualified(make_twice)}`",
        f"### layer `scaled`: `{qualified(Scaled)}`",
    ]


def test_backend_other_than_numpy_is_named_in_the_heading(registry):
    text = render_listing(["layer:scaled"], backend="torch", level=1, registry=registry)
    assert text.startswith(f"# layer `scaled` [torch]: `{qualified(Scaled)}`\n")


def test_markdown_fence_outgrows_backticks_in_the_code(registry):
    text = render_listing(["layer:fenced"], registry=registry)
    assert text.splitlines()[2] == "`````python"
    assert text.rstrip("\n").splitlines()[-1] == "`````"


@pytest.mark.parametrize("level, command", [(1, "section"), (2, "subsection"), (3, "subsubsection")])
def test_latex_heading_levels_and_listing(registry, level, command):
    text = render_listing(["layer:scaled"], methods="forward", fmt="latex", level=level, registry=registry)
    escaped_name = qualified(Scaled).replace("_", r"\_")
    assert text == (
        f"\\{command}{{layer \\texttt{{scaled}}: \\texttt{{{escaped_name}}}}}\n\n"
        "\\begin{lstlisting}[language=Python]\n"
        "def forward(self, X):\n"
        "    return X * self.scale\n"
        "\\end{lstlisting}\n"
    )


def test_latex_escapes_heading_specials():
    assert latex_escape("a_b & 50% $x$ #1 {y} ~ ^ \\") == (
        r"a\_b \& 50\% \$x\$ \#1 \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )


def test_latex_refuses_code_that_would_end_the_listing(registry):
    with pytest.raises(ConfigError, match="render it as markdown"):
        render_listing(["layer:ends_listing"], fmt="latex", registry=registry)
    assert "\\end{lstlisting}" in render_listing(["layer:ends_listing"], registry=registry)


@pytest.mark.parametrize("level", [0, 4, True, "2"])
def test_bad_level(registry, level):
    with pytest.raises(ConfigError, match="heading level must be 1, 2 or 3"):
        render_listing(["layer:scaled"], level=level, registry=registry)


def test_bad_format(registry):
    with pytest.raises(ConfigError, match="formats are: markdown, latex"):
        render_listing(["layer:scaled"], fmt="html", registry=registry)


def test_no_components(registry):
    with pytest.raises(ConfigError, match="at least one component"):
        render_listing([], registry=registry)


def test_empty_method_name(registry):
    with pytest.raises(ConfigError, match="comma-separated method names"):
        render_listing(["layer:scaled"], methods="forward,,backward", registry=registry)


def test_unknown_component_lists_known_names(registry):
    with pytest.raises(UnknownComponentError, match="known layers: ends_listing, fenced, scaled"):
        render_listing(["layer:dense"], registry=registry)


def test_component_on_another_backend_only(registry):
    with pytest.raises(UnknownComponentError, match="not available on the jax backend"):
        render_listing(["layer:scaled"], backend="jax", registry=registry)


# The installed components: the core's built-ins and the nn-fc plugin.


@pytest.mark.parametrize("kind, name", [("loss", "cross_entropy"), ("optimizer", "sgd")])
def test_builtin_components(kind, name):
    factory = get_registry().get(kind, name).load()
    text = render_listing([f"{kind}:{name}"], kernels=False)
    assert text.startswith(f"## {kind} `{name}`: `{qualified(factory)}`\n\n```python\nclass {factory.__name__}")
    assert inspect.getsource(factory).strip() in text


def test_fully_connected_forward_and_backward_as_latex():
    factory = get_registry().get("layer", "fully_connected").load()
    text = render_listing(["layer:fully_connected"], methods="forward,backward", fmt="latex", level=2, kernels=False)
    assert text.startswith("\\subsection{layer \\texttt{fully\\_connected}: ")
    assert text.count("\\begin{lstlisting}[language=Python]\n") == 2
    assert "\\begin{lstlisting}[language=Python]\ndef forward(self, X):\n" in text
    assert "\\begin{lstlisting}[language=Python]\ndef backward(self, dLdY):\n" in text
    assert inspect.getsource(factory.forward).splitlines()[-1].strip() in text
    assert "class " not in text


def test_unknown_builtin_lists_the_registered_losses():
    # the core's losses, and any an installed plugin adds (the example plugin's huber)
    with pytest.raises(UnknownComponentError, match=r"unknown loss 'hinge'.*: cross_entropy, (.*, )?l2"):
        render_listing(["loss:hinge"])


# The command.


def run_command(argv):
    parser = argparse.ArgumentParser()
    listing_command.add_arguments(parser)
    return listing_command.run(parser.parse_args(argv))


def test_command_prints_to_stdout(capsys):
    assert run_command(["loss:l2", "--methods", "forward", "--level", "1"]) == 0
    out = capsys.readouterr().out
    assert out == render_listing(["loss:l2"], methods=["forward"], level=1)
    assert out.startswith("# loss `l2`:")


def test_command_writes_file_atomically(tmp_path, capsys):
    target = tmp_path / "listing.tex"
    target.write_text("old contents")
    assert run_command(["loss:l2", "optimizer:sgd", "--format", "latex", "--out", str(target)]) == 0
    assert target.read_text() == render_listing(["loss:l2", "optimizer:sgd"], fmt="latex")
    assert capsys.readouterr().out == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == ["listing.tex"]


def test_command_bad_level_is_a_config_error():
    with pytest.raises(ConfigError, match="heading level must be 1, 2 or 3, got 5"):
        run_command(["loss:l2", "--level", "5"])


def test_command_out_in_missing_folder(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        run_command(["loss:l2", "--out", str(tmp_path / "missing" / "listing.md")])


def test_write_listing_refuses_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="it is a folder"):
        write_listing("text", tmp_path)


def test_cli_reports_errors_without_traceback(capsys):
    from corenn.cli import main

    assert main(["listing", "layer:scaled_nowhere", "--methods", "forward"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("corenn listing: error: unknown layer 'scaled_nowhere'")
    assert "Traceback" not in err
