"""Files that are never half-written and never run code when read.

Every file corenn writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the same folder, are flushed to disk, and replace the target in one ``os.replace``. A crash,
a kill or a full disk leaves the previous file whole (or no file), never a truncated one.
Arrays are stored as ``.npz`` and read back with ``allow_pickle=False``, so loading a
parameter or checkpoint file cannot execute code.
"""

import contextlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from corenn.errors import CorennError, CorruptFileError


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` atomically; an error leaves no partial file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise CorennError(f"could not write {path}: {exc.strerror or exc}") from exc
        raise


def write_json(path, value):
    atomic_write(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def save_arrays(path, arrays):
    """Save a dict of name -> array as an uncompressed ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    atomic_write(path, buffer.getvalue())


def load_arrays(path):
    """Load a ``.npz`` written by :func:`save_arrays` without ever unpickling."""
    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CorruptFileError(f"{path} holds pickled objects; corenn never loads those (they can run code)") from exc
        raise CorruptFileError(f"{path} is not a valid corenn array file: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CorruptFileError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc})") from exc
