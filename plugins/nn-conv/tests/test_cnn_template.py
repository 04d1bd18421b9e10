"""``corenn init --template cnn`` writes a config that trains as written: one epoch of it on the
real MNIST (about 15 s in float32 on two cores, as LeNet's epoch in ``test_lenet_preset.py``:
this is the only way to know the template trains as it says). Needs MNIST under
``$CORENN_DATA_DIR``; skipped without the files."""

import json
import os
import tomllib
from pathlib import Path

import pytest

from corenn.cli import main

DATA_DIR = os.environ.get("CORENN_DATA_DIR")
HAS_MNIST = DATA_DIR is not None and (Path(DATA_DIR) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()


@pytest.mark.skipif(not HAS_MNIST, reason="MNIST files not under $CORENN_DATA_DIR")
def test_the_cnn_template_trains_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--template", "cnn", "digits.toml"]) == 0
    config = tomllib.loads((tmp_path / "digits.toml").read_text(encoding="utf-8"))
    assert config["dataset"]["name"] == "mnist" and config["name"] == "digits"
    capsys.readouterr()
    assert main(["train", "--config", "digits.toml", "--epochs", "1", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["epochs"] == 1
    assert result["test_accuracy"] >= 0.97, result  # the template says "about 98% after one epoch"
