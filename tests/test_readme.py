"""The README's configs are true (issue 20, item 6): its list of config keys is the config
classes' own (generated, never written by hand), every TOML config in it trains or builds, and
every component it names exists."""

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.nn.model import Sequential
from corenn.run.config import ComponentConfig, config_from_dict
from corenn.run.config_keys import markdown_table
from corenn.run.train import train

from own_data_files import digit_images, sklearn_data, write_image_folder

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOML_BLOCKS = re.findall(r"^```toml\n(.*?)^```", README, re.DOTALL | re.MULTILINE)
EXAMPLE_PLUGIN = ROOT / "examples" / "corenn-example-plugin" / "src" / "corenn_example" / "plugin.py"


def test_the_readmes_key_list_is_generated_from_the_config_classes():
    block = re.search(r"<!-- config-keys:[^\n]*-->\n(.*?)<!-- end config-keys -->", README, re.DOTALL)
    assert block, "the README lost its config-keys block"
    assert block.group(1) == markdown_table(), (
        "the README's key list differs from the config classes: paste `corenn show --keys` between its markers"
    )


def full_configs():
    return [block for block in TOML_BLOCKS if {"name", "dataset", "layers"} <= set(tomllib.loads(block))]


def fragments():
    return [block for block in TOML_BLOCKS if block not in full_configs()]


@pytest.fixture
def photos(tmp_path, monkeypatch):
    """A folder of pictures the README's image-folder config points at (relative to the working
    directory): 60 of scikit-learn's digits."""
    monkeypatch.chdir(tmp_path)
    X, labels, _ = sklearn_data("digits")
    chosen = np.concatenate([np.flatnonzero(labels == str(digit))[:6] for digit in range(10)])
    write_image_folder(tmp_path / "photos", digit_images(X[chosen]), labels[chosen])
    return tmp_path


def test_the_readme_has_complete_configs_for_the_builtin_data_and_an_image_folder():
    datasets = sorted(tomllib.loads(block)["dataset"]["name"] for block in full_configs())
    assert datasets == ["image_folder", "iris"]


@pytest.mark.parametrize("index", range(2))
def test_each_complete_config_in_the_readme_trains(index, photos, no_plots):
    data = tomllib.loads(full_configs()[index])
    result = train(config_from_dict(data | {"epochs": 1}), out_dir=photos / "runs", verbose=False)
    assert result["epochs"] == 1 and result["test_accuracy"] is not None


def test_each_config_fragment_in_the_readme_builds():
    """A fragment's layers make a network (on 16x16 RGB images), and its loss, optimizer and
    scheduler are made with its options; a [plugins.*] table is the plugin's to check."""
    built = 0
    for block in fragments():
        data = tomllib.loads(block)
        if set(data) <= {"plugins"}:
            continue
        if "layers" in data:
            layers = [ComponentConfig(layer.pop("name"), layer) for layer in data["layers"]]
            model = Sequential.from_config(layers, n_classes=10).initialize((16, 16, 3))
            assert model.parameter_count() > 0
            built += 1
        if "loss" in data:
            corenn.create("loss", **_table(data["loss"]))
        if "optimizer" in data:
            corenn.create("optimizer", **_table(data["optimizer"]))
        if "scheduler" in data:
            corenn.create("scheduler", **_table(data["scheduler"]), initial_lr=0.1, total_steps=100)
    assert built >= 1


def _table(value):
    return {"name": value} if isinstance(value, str) else dict(value)


def registered_names():
    names = {entry.name for entry in corenn.list_components()}
    # the example plugin's components, which the README's plugin section uses as its examples
    names |= set(re.findall(r'register\("\w+", "(\w+)"', EXAMPLE_PLUGIN.read_text(encoding="utf-8")))
    return names


def run_names():
    """The top-level names of the README's configs (runs, not components), in TOML blocks, in
    heredocs (``cat > flowers.toml <<'TOML'``) and in Python dicts (``config = {"name": ...``)."""
    heredocs = re.findall(r"<<'TOML'\n(.*?)^TOML$", README, re.DOTALL | re.MULTILINE)
    in_python = re.findall(r'config\s*=\s*\{\s*"name":\s*"([^"]+)"', README)
    return {tomllib.loads(text).get("name") for text in [*TOML_BLOCKS, *heredocs]} | set(in_python)


def test_every_component_the_readme_names_exists():
    """`name = "..."` and `"name": "..."` anywhere in the README, in blocks, tables and prose:
    the plugin example once named `leaky_relu`, which nothing registers."""
    named = set(re.findall(r'name\s*=\s*"([^"]+)"', README)) | set(re.findall(r'"name":\s*"([^"]+)"', README))
    unknown = sorted(named - registered_names() - run_names() - {"corenn"})
    assert not unknown, f"the README names components that do not exist: {unknown}"
