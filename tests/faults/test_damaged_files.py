"""Truncated, damaged and foreign checkpoint and parameter files: a clear error, never a traceback."""

import io
import shutil

import numpy as np
import pytest

from corenn.cli import main
from corenn.errors import CorruptFileError
from corenn.files import load_arrays
from corenn.run.build import build
from corenn.run.config import load_config

from faultkit import RUN_NAME, load_npz, one_line_error, run_corenn


@pytest.fixture
def run_copy(reference, tmp_path):
    run_dir = tmp_path / "out" / RUN_NAME
    shutil.copytree(reference.run_dir, run_dir)
    return run_dir


def _resume_error(capsys, run_dir):
    assert main(["train", "--resume", str(run_dir), "--epochs", "13", "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _restart_hint(run_dir):
    return (
        f"; this run cannot be resumed; start it again with: corenn train --config {run_dir / 'config.toml'} "
        f"--out {run_dir.parent} --name {RUN_NAME} --overwrite"
    )


@pytest.mark.parametrize("keep", [0, 1, 100, 0.5, -1], ids=["empty", "1-byte", "100-bytes", "half", "last-byte-cut"])
def test_truncated_checkpoint(run_copy, capsys, keep):
    """WHAT THE USER SEES: ``corenn train: error: RUN_DIR/checkpoint.npz is truncated or corrupt
    (not an .npz archive); this run cannot be resumed; start it again with: corenn train --config
    RUN_DIR/config.toml --out OUT --name faults-iris --overwrite`` (exit 1)."""
    checkpoint = run_copy / "checkpoint.npz"
    data = checkpoint.read_bytes()
    length = {0.5: len(data) // 2, -1: len(data) - 1}.get(keep, keep)
    checkpoint.write_bytes(data[:length])
    message = _resume_error(capsys, run_copy)
    assert message.startswith(f"corenn train: error: {checkpoint} is truncated or corrupt (")
    assert message.endswith(_restart_hint(run_copy))


def test_truncated_checkpoint_through_the_real_command(run_copy):
    """The same through the installed ``corenn`` script: exit 1, one line, no traceback."""
    checkpoint = run_copy / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-10])
    line = one_line_error(run_corenn("train", "--resume", run_copy, "--epochs", "13"))
    assert line.startswith(f"corenn train: error: {checkpoint} is truncated or corrupt (")


def test_bit_flips_in_a_checkpoint_are_caught(reference):
    """Any single damaged byte either makes loading fail with CorruptFileError or, when it hit a
    byte nothing depends on (a zip timestamp), loads the very same arrays: damage never passes
    silently into a resumed run. The zip's CRC-32 of every member is what catches data damage."""
    data = (reference.run_dir / "checkpoint.npz").read_bytes()
    original = load_npz(reference.run_dir / "checkpoint.npz")
    rng = np.random.default_rng(5)
    outcomes = {"refused": 0, "harmless": 0}
    for position in rng.choice(len(data), size=150, replace=False):
        damaged = bytearray(data)
        damaged[position] ^= 1 << int(rng.integers(8))
        path = reference.run_dir.parent.parent / "damaged.npz"
        path.write_bytes(bytes(damaged))
        try:
            loaded = load_arrays(path)
        except CorruptFileError as exc:
            assert str(exc).startswith(str(path)), exc
            outcomes["refused"] += 1
            continue
        assert sorted(loaded) == sorted(original)
        for name in original:
            assert np.array_equal(loaded[name], original[name]), f"damage at byte {position} changed {name} silently"
        outcomes["harmless"] += 1
    assert outcomes["refused"] > 100, outcomes


def test_a_checkpoint_of_another_model_is_refused(run_copy, capsys):
    """WHAT THE USER SEES: ``corenn train: error: checkpoint RUN_DIR/checkpoint.npz: the parameters
    does not fit this model: missing ['1.W', '1.b'], unexpected nothing; this run cannot be
    resumed; ...``"""
    arrays = load_npz(run_copy / "checkpoint.npz")
    del arrays["param/1.W"], arrays["param/1.b"]
    np.savez(run_copy / "checkpoint.npz", **arrays)
    message = _resume_error(capsys, run_copy)
    assert message.startswith(
        f"corenn train: error: checkpoint {run_copy / 'checkpoint.npz'}: the parameters does not fit this model: missing ['1.W', '1.b']"
    )


def test_a_checkpoint_with_a_damaged_state_record_is_refused(run_copy, capsys):
    """WHAT THE USER SEES: ``corenn train: error: checkpoint RUN_DIR/checkpoint.npz is incomplete or
    corrupt (JSONDecodeError: ...); this run cannot be resumed; ...``"""
    arrays = load_npz(run_copy / "checkpoint.npz")
    arrays["state"] = arrays["state"][: len(arrays["state"]) // 2]
    np.savez(run_copy / "checkpoint.npz", **arrays)
    message = _resume_error(capsys, run_copy)
    assert message.startswith(
        f"corenn train: error: checkpoint {run_copy / 'checkpoint.npz'} is incomplete or corrupt (JSONDecodeError: "
    )


def test_a_checkpoint_whose_batch_order_is_not_a_permutation_is_refused(
    reference, tmp_path, monkeypatch, ctrl_c_after_update, capsys
):
    """A mid-epoch checkpoint carries the epoch's batch order; a damaged one would index the wrong
    samples. WHAT THE USER SEES: ``... is incomplete or corrupt (ValueError: the saved batch order
    is not a permutation of the training samples); ...``"""
    ctrl_c_after_update(10)  # taken at the next batch boundary
    assert main(["train", "--config", str(reference.config), "--out", str(tmp_path / "out"), "--quiet"]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    run_dir = tmp_path / "out" / RUN_NAME
    arrays = load_npz(run_dir / "checkpoint.npz")
    arrays["progress/order"][0] = arrays["progress/order"][1]
    np.savez(run_dir / "checkpoint.npz", **arrays)
    message = _resume_error(capsys, run_dir)
    assert (
        "is incomplete or corrupt (ValueError: the saved batch order is not a permutation of the training samples)"
        in message
    )


def _model(reference):
    return build(load_config(reference.config))[1]


@pytest.mark.parametrize("keep", [0, 30, 0.5, -1], ids=["empty", "30-bytes", "half", "last-byte-cut"])
def test_truncated_parameter_file(reference, tmp_path, keep):
    """WHAT THE USER SEES (``Sequential.load_parameters``): ``CorruptFileError: PATH is truncated or
    corrupt (not an .npz archive)`` or ``... (BadZipFile: ...)``; the model is left unchanged."""
    data = (reference.run_dir / "parameters.npz").read_bytes()
    length = {0.5: len(data) // 2, -1: len(data) - 1}.get(keep, keep)
    path = tmp_path / "parameters.npz"
    path.write_bytes(data[:length])
    model = _model(reference)
    before = {name: value.copy() for name, value in model.named_parameters().items()}
    with pytest.raises(CorruptFileError, match=r"is truncated or corrupt \("):
        model.load_parameters(path)
    for name, value in model.named_parameters().items():
        assert np.array_equal(value, before[name])


def test_parameter_file_of_the_wrong_shape(reference, tmp_path):
    """WHAT THE USER SEES: ``CorruptFileError: PATH: parameter 0.W of layers[0] (fully_connected)
    has shape (3, 16), the model expects (4, 16)``."""
    arrays = load_npz(reference.run_dir / "parameters.npz")
    arrays["0.W"] = arrays["0.W"][:3]
    path = tmp_path / "parameters.npz"
    np.savez(path, **arrays)
    with pytest.raises(CorruptFileError) as caught:
        _model(reference).load_parameters(path)
    assert (
        str(caught.value)
        == f"{path}: parameter 0.W of layers[0] (fully_connected) has shape (3, 16), the model expects (4, 16)"
    )


def test_a_bare_npy_array_is_not_taken_for_a_parameter_file(reference, tmp_path):
    """``np.load`` would happily return a lone array; corenn's files are always archives.
    WHAT THE USER SEES: ``CorruptFileError: PATH is truncated or corrupt (not an .npz archive)``."""
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((4, 16)))
    path = tmp_path / "parameters.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CorruptFileError) as caught:
        _model(reference).load_parameters(path)
    assert str(caught.value) == f"{path} is truncated or corrupt (not an .npz archive)"
