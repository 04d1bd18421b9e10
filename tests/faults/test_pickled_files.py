"""Files crafted to run code when unpickled: corenn refuses them and the code never runs.

The payload is an object whose pickle calls ``open(marker, "w")`` when loaded, so running it
leaves a marker file behind. Each test first proves the payload is live (loading it the unsafe
way does create a marker), then shows that corenn refuses the same bytes and no marker appears.
"""

import io
import pickle
import shutil

import numpy as np
import pytest

from corenn.errors import CorruptFileError
from corenn.files import load_arrays

from faultkit import RUN_NAME, load_npz, one_line_error, run_corenn


class CreatesMarkerWhenUnpickled:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _npz_with_payload(marker, arrays):
    """An .npz that holds ``arrays`` plus an object array whose element is the payload."""
    buffer = io.BytesIO()
    payload = np.empty(1, dtype=object)
    payload[0] = CreatesMarkerWhenUnpickled(marker)
    np.savez(buffer, **arrays, **{"param/0.W": payload})
    return buffer.getvalue()


@pytest.fixture
def run_copy(reference, tmp_path):
    run_dir = tmp_path / "out" / RUN_NAME
    shutil.copytree(reference.run_dir, run_dir)
    return run_dir


def test_the_payload_is_live(tmp_path):
    """Control: numpy with allow_pickle=True runs the payload (so the refusals below mean something)."""
    marker = tmp_path / "control-marker"
    path = tmp_path / "control.npz"
    path.write_bytes(_npz_with_payload(marker, {}))
    with np.load(path, allow_pickle=True) as archive:
        archive["param/0.W"]
    assert marker.exists()
    raw_marker = tmp_path / "raw-control-marker"
    pickle.loads(pickle.dumps(CreatesMarkerWhenUnpickled(raw_marker)))
    assert raw_marker.exists()


def test_a_checkpoint_with_a_pickled_object_array_is_refused(run_copy, tmp_path):
    """WHAT THE USER SEES (exit 1, no traceback, the payload never runs):

    corenn train: error: RUN_DIR/checkpoint.npz holds pickled objects; corenn never loads those (they can run code); this run cannot be resumed; start it again with: corenn train --config RUN_DIR/config.toml --out OUT --name faults-iris --overwrite"""
    marker = tmp_path / "marker"
    checkpoint = run_copy / "checkpoint.npz"
    arrays = {name: value for name, value in load_npz(checkpoint).items() if name != "param/0.W"}
    checkpoint.write_bytes(_npz_with_payload(marker, arrays))
    line = one_line_error(run_corenn("train", "--resume", run_copy, "--epochs", "13"))
    assert line.startswith(
        f"corenn train: error: {checkpoint} holds pickled objects; corenn never loads those (they can run code); "
        "this run cannot be resumed; start it again with: "
    )
    assert not marker.exists(), "loading the checkpoint ran the pickled code"


def test_a_checkpoint_that_is_a_plain_pickle_is_refused(run_copy, tmp_path):
    """WHAT THE USER SEES: ``corenn train: error: RUN_DIR/checkpoint.npz is a pickle, not an .npz
    archive; corenn never loads pickles (they can run code); this run cannot be resumed; ...``"""
    marker = tmp_path / "marker"
    checkpoint = run_copy / "checkpoint.npz"
    checkpoint.write_bytes(pickle.dumps({"param/0.W": CreatesMarkerWhenUnpickled(marker)}))
    line = one_line_error(run_corenn("train", "--resume", run_copy, "--epochs", "13"))
    assert line.startswith(
        f"corenn train: error: {checkpoint} is a pickle, not an .npz archive; corenn never loads pickles (they can run code)"
    )
    assert not marker.exists()


@pytest.mark.parametrize("form", ["object-array", "plain-pickle", "npy-object-array"])
def test_a_parameter_file_with_pickled_objects_is_refused(reference, tmp_path, form):
    """WHAT THE USER SEES (``load_parameters`` / ``load_arrays``): ``CorruptFileError: PATH holds
    pickled objects; corenn never loads those (they can run code)`` (or ``... is a pickle, not an
    .npz archive ...``, or ``... (not an .npz archive)`` for a bare .npy); the payload never runs."""
    marker = tmp_path / "marker"
    path = tmp_path / "parameters.npz"
    if form == "object-array":
        path.write_bytes(_npz_with_payload(marker, load_npz(reference.run_dir / "parameters.npz")))
    elif form == "plain-pickle":
        path.write_bytes(pickle.dumps(CreatesMarkerWhenUnpickled(marker)))
    else:
        payload = np.empty(1, dtype=object)
        payload[0] = CreatesMarkerWhenUnpickled(marker)
        buffer = io.BytesIO()
        np.save(buffer, payload)
        path.write_bytes(buffer.getvalue())
    with pytest.raises(CorruptFileError) as caught:
        load_arrays(path)
    assert str(caught.value) in {
        f"{path} holds pickled objects; corenn never loads those (they can run code)",
        f"{path} is a pickle, not an .npz archive; corenn never loads pickles (they can run code)",
        f"{path} is truncated or corrupt (not an .npz archive)",
    }
    assert not marker.exists()
