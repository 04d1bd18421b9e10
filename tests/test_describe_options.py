"""``corenn describe``'s option table says what the component really takes: the csv data set's
``label`` (a column name or an index), ``task`` (default "auto"), ``missing`` (its allowed values)
and ``test_size`` (0.2 where the data has no test file); conv2d's and pool2d's ``kernel_shape`` and
``stride`` (an integer or a pair). A default the table shows is the one the data set uses when
the key is absent: each is checked by reading a file with and without it."""

import json

import numpy as np
import pytest

import corenn
from corenn.cli.describe import _annotation_words, describe
from corenn.data.csv_table import load_csv
from corenn.data.npz_arrays import load_npz
from corenn.nn.layers import Activation
from corenn.plugins import get_plugins

from suite_helpers import run_command

LOADERS = {"csv": load_csv, "npz": load_npz}


def option_lines(capsys, kind, name):
    code, out, _ = run_command(capsys, "describe", kind, name)
    assert code == 0
    return {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and "  " in line[2:]}


def test_the_csv_table_says_what_the_docs_say(capsys):
    lines = option_lines(capsys, "dataset", "csv")
    assert lines["label"] == (
        "  label       string or integer, default -1; the label column: a name, or a 0-based index (-1: the last column)"
    )
    assert lines["task"] == '  task        string, default "auto"; one of: "classification", "regression", "auto"'
    assert lines["missing"] == '  missing     string, default "error"; one of: "error", "mean", "drop"'
    assert lines["header"] == '  header      true or false, or string, default "auto"; one of: true, false, "auto"'
    assert lines["test_size"].startswith(
        "  test_size   number, default 0.2; a fraction in [0, 1) or a number of samples (0: no test split); "
    )


@pytest.mark.parametrize("name", ["conv2d", "pool2d"])
def test_kernel_shape_and_stride_are_an_integer_or_a_pair(capsys, name):
    lines = option_lines(capsys, "layer", name)
    assert lines["kernel_shape"].split(None, 1)[1].startswith("a positive integer or a pair [rows, cols], required")
    assert lines["stride"].split(None, 1)[1].startswith("a positive integer or a pair [rows, cols], default 1")
    assert lines["pad"].split(None, 1)[1].startswith('"same", "valid", a non-negative integer, a pair [rows, cols]')
    options = {"n_out": 2} if name == "conv2d" else {}
    for kernel_shape, stride in ((3, 2), ([3, 2], [1, 2])):
        corenn.create("layer", name, kernel_shape=kernel_shape, stride=stride, **options)  # both forms build


def test_a_csv_column_name_is_a_label_as_the_table_says(tmp_path):
    path = write_table(tmp_path)
    by_name = load_csv(path=str(path), label="species")
    by_index = load_csv(path=str(path))
    assert by_name.class_names == by_index.class_names == ("setosa", "virginica")
    assert np.array_equal(by_name.train.X, by_index.train.X)


def write_table(tmp_path, rows=40):
    rng = np.random.default_rng(0)
    lines = ["a,b,species"]
    for row in range(rows):
        lines.append(f"{rng.normal():.6f},{rng.normal():.6f},{'setosa' if row % 2 else 'virginica'}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_npz(tmp_path, rows=40):
    rng = np.random.default_rng(0)
    path = tmp_path / "arrays.npz"
    np.savez(path, X=rng.normal(size=(rows, 3)), y=np.arange(rows) % 2)
    return path


def same_splits(first, second):
    assert (first.class_names, first.task, first.inputs) == (second.class_names, second.task, second.inputs)
    for one, other in ((first.train, second.train), (first.val, second.val), (first.test, second.test)):
        assert (one is None) == (other is None)
        if one is not None:
            assert np.array_equal(one.X, other.X) and np.array_equal(one.y, other.y)


@pytest.mark.parametrize("name", ["csv", "npz"])
def test_every_default_the_table_shows_is_what_the_data_set_uses_without_the_key(tmp_path, name):
    """Before: csv's table said task "classification" (the config's default is "auto") and
    test_size unset (the split is 20%); a default written twice drifts, this reads both."""
    path = write_table(tmp_path) if name == "csv" else write_npz(tmp_path)
    described = describe(get_plugins(), "dataset", name)
    defaults = {
        option["name"]: option["default"]
        for option in described["options"]
        if not option["set_for_it"] and option["default"] is not None
    }
    assert {"task", "missing", "val_size", "test_size", "split_seed"} <= set(defaults)
    assert defaults["task"] == "auto" and defaults["test_size"] == 0.2
    without = LOADERS[name](path=str(path))
    assert len(without.test) == 8  # 0.2 of 40
    for key, value in defaults.items():
        same_splits(without, LOADERS[name](path=str(path), **{key: value}))


def test_the_json_holds_the_declared_default_and_allowed_values(capsys):
    code, out, _ = run_command(capsys, "describe", "dataset", "csv", "--json")
    options = {option["name"]: option for option in json.loads(out)["options"]}
    assert options["test_size"]["default"] == 0.2 and options["test_size"]["type"] == "number"
    assert options["missing"]["allowed"] == ["error", "mean", "drop"]
    assert options["label"]["type"] == "string or integer"
    assert "test_size = 0.2" in json.loads(out)["example_config"]


@pytest.mark.parametrize(
    "annotation, words",
    [(str | int, "string or integer"), (float | int | None, "number"), (bool | str, "true or false, or string")],
)
def test_annotations_read_as_words(annotation, words):
    assert _annotation_words(annotation) == words


class NeedsAlpha(Activation):
    """An activation with a required option and no example: its bare name would be refused."""

    name = "needs_alpha"

    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, Z):
        return self.alpha * Z

    def backward(self, Z, dY):
        return self.alpha * dY


def test_an_activation_with_a_required_option_is_not_suggested_by_its_bare_name():
    """It suggested activation = "needs_alpha", which training refuses ("needs the option alpha")."""
    from corenn.cli.describe import example_config

    assert example_config("activation", "needs_alpha", NeedsAlpha, {}).splitlines() == [
        "[[layers]]",
        'name = "fully_connected"',
        "n_out = 16",
        '# activation = { name = "needs_alpha", alpha = ... }   (required: give alpha a value)',
    ]
