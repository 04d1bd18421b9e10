"""Every code block the README and the docs mark to run is run (issue 24, item 4): commands and
Python as a reader copies them, complete configs trained for one epoch, config fragments built.

Each page runs in a folder of its own, its blocks in order, with ``corenn`` and ``python`` those
of the environment running the tests. The folder holds what a reader is told to bring:
``photos/``, a folder of pictures with one sub-folder per class (60 of scikit-learn's 8x8 digits).
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.nn.model import Sequential
from corenn.run.config import ComponentConfig, config_from_dict
from corenn.run.train import train

from docs_pages import MARKERS, blocks, marked_blocks, pages
from own_data_files import digit_images, sklearn_data, write_image_folder

BLOCKS = marked_blocks()
# Data sets read from CORENN_DATA_DIR: a config on one of them is skipped where it is missing.
DATA_DIR_SETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py"}
_FOLDERS = {}


@pytest.fixture(scope="session")
def page_folder(tmp_path_factory):
    """The working folder of a page, made on its first block and kept for the page's others."""

    def folder(page):
        if page not in _FOLDERS:
            path = tmp_path_factory.mktemp(page.replace("/", "-").removesuffix(".md"))
            X, labels, _ = sklearn_data("digits")
            chosen = np.concatenate([np.flatnonzero(labels == str(digit))[:6] for digit in range(10)])
            write_image_folder(path / "photos", digit_images(X[chosen]), labels[chosen])
            _FOLDERS[page] = path
        return _FOLDERS[page]

    return folder


def _environment(folder):
    return {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "MPLBACKEND": "Agg",
        "CORENN_CACHE_DIR": str(folder / ".cache"),
    }


def _run(command, folder, block):
    done = subprocess.run(command, cwd=folder, env=_environment(folder), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{block} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, f"{block} printed a traceback:\n{done.stderr[-3000:]}"


def _table(value):
    return {"name": value} if isinstance(value, str) else dict(value)


def _train_one_epoch(block, folder, monkeypatch):
    data = tomllib.loads(block.code)
    assert {"name", "dataset", "layers"} <= set(data), f"{block}: a `toml train` block is a complete config"
    folder_name = DATA_DIR_SETS.get(data["dataset"]["name"])
    data_dir = os.environ.get("CORENN_DATA_DIR")
    if folder_name is not None and not (data_dir and (Path(data_dir) / folder_name).is_dir()):
        pytest.skip(f"{block} needs {folder_name} in CORENN_DATA_DIR")
    monkeypatch.chdir(folder)  # relative paths in the config are the reader's working folder
    result = train(config_from_dict(data | {"epochs": 1}), out_dir=folder / "trained", verbose=False)
    assert result["epochs"] == 1 and result["test_loss"] is not None


def _build(block):
    """A fragment's layers make a network (on 16x16 RGB images), and its loss, optimizer and
    scheduler are made with its options."""
    data = tomllib.loads(block.code)
    assert set(data) & {"layers", "loss", "optimizer", "scheduler"}, f"{block}: nothing to build"
    if "layers" in data:
        layers = [ComponentConfig(layer.pop("name"), layer) for layer in data["layers"]]
        assert Sequential.from_config(layers, n_classes=10).initialize((16, 16, 3)).parameter_count() > 0
    if "loss" in data:
        corenn.create("loss", **_table(data["loss"]))
    if "optimizer" in data:
        corenn.create("optimizer", **_table(data["optimizer"]))
    if "scheduler" in data:
        corenn.create("scheduler", **_table(data["scheduler"]), initial_lr=0.1, total_steps=100)


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_block_runs(block, page_folder, monkeypatch, no_plots):
    folder = page_folder(block.page)
    if block.marker == "exec" and block.language == "bash":
        _run(["bash", "-euo", "pipefail", "-c", block.code], folder, block)
    elif block.marker == "exec" and block.language == "python":
        _run([sys.executable, "-c", block.code], folder, block)
    elif block.marker == "train":
        _train_one_epoch(block, folder, monkeypatch)
    else:
        _build(block)


def test_markers_are_known_and_every_complete_config_trains():
    """A misspelt marker (```` ```bash exce ````) would leave a block untested without a word; a
    complete config shown without ``train`` would go untrained."""
    for page in pages():
        for block in blocks(page):
            if block.marker is not None:
                assert block.language in MARKERS.get(block.marker, ()), f"{block}: unknown marker"
            if block.language == "toml" and not page.startswith("docs/plugins/"):
                keys = set(tomllib.loads(block.code))
                if {"name", "dataset", "layers"} <= keys:
                    assert block.marker == "train", f"{block} is a complete config: mark it `toml train`"


def test_the_docs_run_blocks_of_every_kind():
    kinds = {(block.language, block.marker) for block in BLOCKS}
    assert kinds == {("bash", "exec"), ("python", "exec"), ("toml", "train"), ("toml", "build")}
    assert {block.page for block in BLOCKS} >= {"README.md", "docs/getting-started.md", "docs/own-data.md"}
    assert len(BLOCKS) >= 20
