"""Huge values, and errors nobody planned for: always one line on stderr and status 1, never a
traceback (which is kept in the run folder's ``error.log`` and shown with ``--debug``)."""

import pytest

from corenn.cli import MAX_ERROR_CHARACTERS, main
from corenn.nn.initializers import MAX_ARRAY_VALUES
from corenn.run.loop import Trainer

from faultkit import RUN_NAME, SMALL_IRIS_CONFIG, one_line_error, run_corenn, write_config


def with_hidden_width(n_out):
    return SMALL_IRIS_CONFIG.replace("n_out = 16", f"n_out = {n_out}")


@pytest.mark.parametrize("n_out", ["1000000000", "9223372036854775807", "9223372036854775808"])
def test_a_huge_layer_is_refused_before_anything_is_allocated(tmp_path, n_out):
    """Before: ``n_out = 10**9`` ran out of memory and ``2**63`` failed in numpy, both with a
    traceback."""
    path = write_config(tmp_path, with_hidden_width(n_out))
    line = one_line_error(run_corenn("train", "--config", path, "--out", tmp_path / "out"))
    assert line.startswith(
        f"corenn train: error: layers[0] (fully_connected): a weight of shape (4, {n_out}) would hold "
    )
    assert line.endswith(
        f"corenn refuses any one array of more than {MAX_ARRAY_VALUES:,} values (2 GiB as float64): choose a smaller n_out or kernel"
    )
    assert not (tmp_path / "out" / RUN_NAME).exists()


def test_an_option_holding_a_10_mb_array_gives_a_short_line(tmp_path):
    """Before: the error quoted the whole value, a 15 MB line."""
    huge = "[" + ", ".join(["0"] * 3_500_000) + "]"
    path = write_config(tmp_path, SMALL_IRIS_CONFIG.replace('activation = "tanh"', f"activation = {huge}"))
    assert path.stat().st_size > 10_000_000
    line = one_line_error(run_corenn("train", "--config", path, "--out", tmp_path / "out"))
    assert line.startswith("corenn train: error: ")
    assert len(line) < MAX_ERROR_CHARACTERS + 100
    assert "characters cut" in line


def _failing_update(monkeypatch, exception, after_updates=10):
    original_update = Trainer.update
    calls = {"n": 0}

    def update(self):
        calls["n"] += 1
        if calls["n"] == after_updates:
            raise exception
        original_update(self)

    monkeypatch.setattr(Trainer, "update", update)


def test_an_unexpected_exception_is_one_line_with_its_traceback_in_the_run_folder(
    config_path, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    _failing_update(monkeypatch, RuntimeError("a layer's bug"))
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    log = out / RUN_NAME / "error.log"
    assert lines == [
        f"corenn train: error: unexpected RuntimeError: a layer's bug (a bug in corenn or a plugin); the traceback is in {log}"
    ]
    assert log.read_text(encoding="utf-8").startswith("Traceback (most recent call last):")


def test_debug_prints_the_traceback(config_path, tmp_path, monkeypatch, capsys):
    _failing_update(monkeypatch, RuntimeError("a layer's bug"))
    assert main(["train", "--config", str(config_path), "--out", str(tmp_path / "out"), "--quiet", "--debug"]) == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("Traceback (most recent call last):")
    assert stderr.strip().splitlines()[-1].startswith("corenn train: error: unexpected RuntimeError: a layer's bug")


def test_running_out_of_memory_is_one_line(config_path, tmp_path, monkeypatch, capsys):
    _failing_update(
        monkeypatch,
        MemoryError("Unable to allocate 7.45 GiB for an array with shape (1000000000,) and data type float64"),
    )
    assert main(["train", "--config", str(config_path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "corenn train: error: out of memory (MemoryError: Unable to allocate 7.45 GiB for an array with shape (1000000000,) "
        "and data type float64); make the network or --batch-size smaller; the traceback is in "
    )
