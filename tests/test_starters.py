"""Configs to start from (issue 20, item 5): ``corenn presets`` lists the bundled configs one line
each, ``corenn show`` prints one (or every key), and ``corenn init`` writes a commented starter
config that trains as written, for each template (``cnn``'s epoch on MNIST is in the conv suite,
``plugins/nn-conv/tests/test_cnn_template.py``)."""

import importlib.resources
import json
import tomllib

import numpy as np
import pytest

from corenn.run.config import load_preset, parse_toml, preset_names
from corenn.run.config_keys import DESCRIPTIONS, UNDESCRIBED, config_keys, markdown_table
from corenn.run.starters import TEMPLATES, description

from own_data_files import digit_images, sklearn_data, write_image_folder
from suite_helpers import run_command


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_presets_lists_each_preset_on_one_line(capsys):
    code, out, _ = run_command(capsys, "presets")
    assert code == 0
    lines = out.splitlines()
    names = preset_names()
    assert [line.split()[0] for line in lines[: len(names)]] == names
    for line, name in zip(lines, names, strict=False):
        text = (importlib.resources.files("corenn") / "presets" / f"{name}.toml").read_text()
        assert line.split(maxsplit=1)[1] == description(text) != ""
        assert len(line) <= 120, line
    assert "corenn show NAME" in lines[-1]
    code, out, _ = run_command(capsys, "presets", "--json")
    listed = json.loads(out)
    assert [row["name"] for row in listed] == names
    assert {row["name"]: row["dataset"] for row in listed}["lenet-mnist"] == "mnist"


@pytest.mark.parametrize("name", preset_names())
def test_show_prints_the_preset_as_toml_with_its_comments(capsys, name):
    code, out, _ = run_command(capsys, "show", name)
    assert code == 0
    assert out == (importlib.resources.files("corenn") / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    assert out.startswith("# ")
    assert parse_toml(out) == load_preset(name)


def test_show_of_an_unknown_preset_names_the_closest(capsys):
    code, _, err = run_command(capsys, "show", "lenet")
    assert code == 1
    assert "unknown preset 'lenet' (did you mean 'lenet-mnist'?); presets: cifar10-cnn, fmnist-mlp" in err


def test_show_keys_lists_every_config_key_with_a_description(capsys):
    code, out, _ = run_command(capsys, "show", "--keys")
    assert code == 0 and out == markdown_table()
    rows = config_keys()
    assert all(text != UNDESCRIBED for _, _, text in rows), [key for key, _, text in rows if text == UNDESCRIBED]
    assert set(DESCRIPTIONS) == {key for key, _, _ in rows}  # none describes a key that is gone
    keys = [key for key, _, _ in rows]
    for key in ("patience", "best_metric", "plugins", "sync_batch_norm", "restore_best", "dataset.batch_size"):
        assert key in keys  # the ones the README's hand-written list had lost


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    X, labels, _ = sklearn_data("digits")
    chosen = np.concatenate([np.flatnonzero(labels == str(digit))[:12] for digit in range(10)])
    return write_image_folder(tmp_path_factory.mktemp("pictures") / "pictures", digit_images(X[chosen]), labels[chosen])


@pytest.fixture
def iris_csv(tmp_path):
    path = tmp_path / "flowers.csv"
    path.write_text((importlib.resources.files("corenn") / "data" / "iris.csv").read_text(), encoding="utf-8")
    return path


@pytest.mark.parametrize("template", ["mlp", "csv", "image-folder"])
def test_each_template_trains_as_written(capsys, tmp_path, no_plots, template, request):
    """The written file, untouched but for --data, trains for one epoch and tests."""
    data = {"mlp": [], "csv": ["--data", "flowers.csv"], "image-folder": ["--data", "pictures"]}[template]
    if template == "csv":
        request.getfixturevalue("iris_csv")
    if template == "image-folder":
        (tmp_path / "pictures").symlink_to(request.getfixturevalue("digits_folder"), target_is_directory=True)
    code, out, _ = run_command(capsys, "init", "--template", template, *data, "starter.toml")
    assert code == 0, out
    assert out.splitlines()[-1] == "train it with: corenn train --config starter.toml"
    text = (tmp_path / "starter.toml").read_text(encoding="utf-8")
    assert text.startswith("# ") and text.count("#") >= 10  # commented
    assert tomllib.loads(text)["name"] == "starter"  # the file's name
    code, out, err = run_command(capsys, "train", "--config", "starter.toml", "--epochs", "1", "--json")
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["epochs"] == 1 and result["test_accuracy"] is not None


def test_the_templates_are_the_listed_ones():
    folder = importlib.resources.files("corenn") / "templates"
    assert sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".toml")) == sorted(
        f"{name}.toml" for name in TEMPLATES
    )


def test_init_writes_the_path_given_and_refuses_what_it_cannot_do(capsys, tmp_path):
    code, out, _ = run_command(capsys, "init", "--template", "csv", "mine.toml")
    assert code == 0
    assert "set [dataset] path in it to your CSV file, then train it with" in out
    assert tomllib.loads((tmp_path / "mine.toml").read_text())["dataset"]["path"] == "data.csv"
    code, _, err = run_command(capsys, "init", "mine.toml")
    assert code == 1 and "mine.toml exists; pass --force to replace it" in err
    code, _, _ = run_command(capsys, "init", "--template", "csv", "--data", 'odd "name".csv', "--force", "mine.toml")
    assert code == 0 and tomllib.loads((tmp_path / "mine.toml").read_text())["dataset"]["path"] == 'odd "name".csv'
    code, _, err = run_command(capsys, "init", "--data", "x.csv", "other.toml")
    assert code == 1 and "--data goes with the templates that read your files (csv, image-folder)" in err
    code, _, err = run_command(capsys, "init", "other.txt")
    assert code == 1 and "name it with .toml" in err
    code, _, err = run_command(capsys, "init", "--template", "cnnn", "other.toml")
    assert code == 2 and "invalid choice: 'cnnn'" in err


@pytest.mark.parametrize("template", list(TEMPLATES))
@pytest.mark.parametrize(
    ("name", "data"),
    [("a", "x.csv"), ("cnn", None), ("a-much-longer-run-name-than-the-template-had", "some/far/away/folder")],
)
def test_written_values_keep_the_comments_in_their_column(template, name, data):
    from corenn.run.starters import DATA_KEYS, render_template, template_text

    original = template_text(template).splitlines()
    written = render_template(template, name=name, data=data if template in DATA_KEYS else None).splitlines()
    assert len(written) == len(original)
    for before, after in zip(original, written, strict=True):
        if before == after or "#" not in before or before.startswith("#"):
            continue
        value = after[: after.index(" #")].split("=", 1)[1].strip()
        column = before.index("#")
        assert after.index("#") == max(column, after.index(value) + len(value) + 1), (before, after)
        assert tomllib.loads(after) == tomllib.loads(after[: after.index(" #")])
