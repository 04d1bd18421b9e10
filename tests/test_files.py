"""Atomic writes that leave the old file whole, and array files that never run code."""

import errno
import os
import pickle

import numpy as np
import pytest

from corenn.errors import CorennError, CorruptFileError
from corenn.files import atomic_write, load_arrays, save_arrays, write_json

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def leftovers(folder):
    """Anything but the target files: temporaries of a failed write would show up here."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_atomic_write_creates_and_replaces_text_and_bytes(tmp_path):
    path = tmp_path / "notes.txt"
    atomic_write(path, "first\n")
    assert path.read_text() == "first\n"
    atomic_write(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    atomic_write(path, "ünïcode")
    assert path.read_bytes() == "ünïcode".encode()
    assert leftovers(tmp_path) == []


def fail_with(error):
    def failing(*args, **kwargs):
        raise error

    return failing


@pytest.mark.parametrize("failing_call", ["replace", "fsync"])
def test_a_full_disk_leaves_the_old_file_intact_and_no_temporary(tmp_path, monkeypatch, failing_call):
    path = tmp_path / "metrics.json"
    path.write_text('{"old": true}\n')
    monkeypatch.setattr(os, failing_call, fail_with(NO_SPACE))
    with pytest.raises(CorennError) as info:
        atomic_write(path, '{"new": true, "padding": "' + "x" * 10000 + '"}\n')
    monkeypatch.undo()
    assert str(path) in str(info.value) and "No space left on device" in str(info.value)
    assert path.read_text() == '{"old": true}\n'
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_no_room_for_even_the_temporary_file_is_a_clear_error(tmp_path, monkeypatch):
    import tempfile

    path = tmp_path / "parameters.npz"
    monkeypatch.setattr(tempfile, "mkstemp", fail_with(NO_SPACE))
    with pytest.raises(CorennError, match="could not write .*parameters.npz: No space left on device"):
        atomic_write(path, b"data")
    monkeypatch.undo()
    assert not path.exists() and leftovers(tmp_path) == []


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    monkeypatch.setattr(os, "replace", fail_with(NO_SPACE))
    with pytest.raises(CorennError):
        write_json(path, {"a": 1})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_during_a_write_propagates_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_arrays(path, {"a": np.arange(3.0)})
    monkeypatch.setattr(os, "fsync", fail_with(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_arrays(path, {"a": np.arange(5.0)})
    monkeypatch.undo()
    np.testing.assert_array_equal(load_arrays(path)["a"], np.arange(3.0))
    assert leftovers(tmp_path) == []


def test_writing_into_a_missing_folder_is_a_corenn_error(tmp_path):
    with pytest.raises(CorennError, match="could not write"):
        atomic_write(tmp_path / "absent" / "file.txt", "x")


def test_arrays_round_trip_with_names_shapes_and_dtypes(tmp_path):
    arrays = {
        "param/0.W": np.random.default_rng(0).standard_normal((4, 3)),
        "param/0.b": np.zeros((1, 3), dtype=np.float32),
        "optimizer/t/0.W": np.asarray(7),
        "state": np.frombuffer(b'{"epoch": 1}', dtype=np.uint8),
    }
    path = tmp_path / "arrays.npz"
    save_arrays(path, arrays)
    loaded = load_arrays(path)
    assert list(loaded) == list(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        np.testing.assert_array_equal(loaded[name], value)


def test_write_json_writes_a_trailing_newline(tmp_path):
    write_json(tmp_path / "r.json", {"a": [1, 2.5, None]})
    assert (tmp_path / "r.json").read_text().endswith("}\n")


def test_garbage_is_reported_as_corrupt_not_as_a_pickle(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"PK-not-really" + np.random.default_rng(1).bytes(200))
    with pytest.raises(CorruptFileError) as info:
        load_arrays(path)
    assert str(path) in str(info.value) and "corrupt" in str(info.value)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CorruptFileError, match="corrupt"):
        load_arrays(path)


def test_an_empty_file_is_corrupt(tmp_path):
    path = tmp_path / "parameters.npz"
    path.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="parameters.npz"):
        load_arrays(path)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_bare_pickle_named_npz_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps({"param/0.W": _Payload(marker)}))
    with pytest.raises(CorruptFileError, match="pickle"):
        load_arrays(path)
    assert not marker.exists()


def test_an_npz_member_holding_pickled_objects_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "checkpoint.npz"
    payload = np.empty(2, dtype=object)
    payload[:] = [_Payload(marker), "x"]
    np.savez(path, good=np.ones(3), bad=payload)
    with pytest.raises(CorruptFileError, match="pickled objects"):
        load_arrays(path)
    assert not marker.exists()


def test_a_bare_npy_file_is_not_accepted_as_an_archive(tmp_path):
    path = tmp_path / "parameters.npz"
    with open(path, "wb") as stream:
        np.save(stream, np.ones(3))
    with pytest.raises(CorruptFileError):
        load_arrays(path)


def test_written_files_get_fixed_permissions_whatever_they_replace(tmp_path):
    """A symlink planted at the target is replaced, not followed, and the new file does not
    copy the link target's mode (setuid included)."""
    import os
    import stat

    from corenn.files import atomic_write, process_umask

    target = tmp_path / "setuid-program"
    target.write_text("#!/bin/sh\n")
    os.chmod(target, 0o4755)
    planted = tmp_path / "checkpoint.npz"
    planted.symlink_to(target)
    atomic_write(planted, b"new")
    assert not planted.is_symlink()
    assert stat.S_IMODE(planted.stat().st_mode) == 0o666 & ~process_umask()
    assert target.read_text() == "#!/bin/sh\n" and stat.S_IMODE(target.stat().st_mode) == 0o4755
    os.chmod(planted, 0o600)
    atomic_write(planted, b"again")
    assert stat.S_IMODE(planted.stat().st_mode) == 0o666 & ~process_umask()
