"""Files that are never half-written and never run code when read.

Every file corenn writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the same folder, are flushed to disk, and replace the target in one ``os.replace``. A crash,
a kill or a full disk leaves the previous file whole (or no file), never a truncated one; a
kill may leave a hidden temporary (``.<name>.<random>.tmp``) behind, which
:func:`remove_stale_temporaries` clears. Records that grow by rows as a run trains (a run's
``metrics.csv`` and ``steps.csv``) are appended instead (:func:`append_whole`), so that a row costs
the same at every epoch; a failed append is cut back off. Arrays are stored as ``.npz`` and read back with
``allow_pickle=False``, so loading a parameter or checkpoint file cannot execute code.

Every file corenn reads from a run folder or a config path goes through the bounded readers
here (:func:`read_bounded_bytes`, :func:`read_bounded_text`, :func:`read_json_record`, and
:func:`load_arrays` for arrays): only a regular file is read (a FIFO would hang the reader, a
device such as ``/dev/zero`` never ends), and never more than a stated number of bytes, so a
planted or damaged file is one error naming it, not a hang or all the memory.
"""

import contextlib
import errno
import functools
import io
import json
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from corenn.errors import CorennError, CorruptFileError

TEMPORARY_SUFFIX = ".tmp"
_CHUNK_BYTES = 1 << 20

MAX_CONFIG_BYTES = 16 * 2**20
"""The largest config file (``--config`` or a run's ``config.toml``) corenn reads: a config is a
few kilobytes; this leaves room for options holding arrays (a 10 MB one is refused by its
component, in one line), not for ``/dev/zero`` or a file of gigabytes."""

MAX_RECORD_BYTES = 64 * 2**20
"""The largest JSON record (``metrics.json``, ``result.json``, ``preprocessing.json``, ...) corenn
reads from a run folder: ``metrics.json`` grows by about 250 bytes an epoch, so this is some
250,000 epochs; parsed, a JSON file takes several times its size in memory."""

# Everything reading a damaged zip or .npy member can raise; each one means "not a whole file".
_DAMAGED_FILE_ERRORS = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    KeyError,
    struct.error,
    NotImplementedError,  # a zip member packed with a method zipfile does not know
    RuntimeError,  # an encrypted zip member
    SyntaxError,  # a damaged .npy header
)


@functools.cache
def process_umask():
    """The process's umask, read once: reading it means setting it, which is not thread-safe."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_file_mode():
    """The mode ``open()`` would give a new file; mkstemp's own is 0o600.

    Every file corenn writes gets it, whatever the file it replaces had: copying the old
    file's mode would copy a planted one's too (a symlink at ``RUN/checkpoint.npz`` pointing
    to a setuid file would make the new checkpoint setuid)."""
    return 0o666 & ~process_umask()


def _write_all(fd, data):
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` atomically; an error leaves no partial file.

    A failure (full disk, missing folder, no permission) raises :class:`CorennError` naming
    the file and the reason; the previous content of ``path``, if any, is untouched.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
        try:
            _write_all(fd, data)
            os.fsync(fd)
            if hasattr(os, "fchmod"):  # POSIX (Windows has it only from Python 3.13)
                os.fchmod(fd, _default_file_mode())
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except BaseException as exc:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise CorennError(f"could not write {path}: {exc.strerror or exc}") from exc
        raise


def _open_for_append(path):
    """``path`` opened for appending (created if missing), and its size before the append.

    A link is not followed (the row goes to the run's own file, never to one a link points to),
    nor is anything but a regular file written to (a FIFO would block the run)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), _default_file_mode())
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"it is {_kind_of(info.st_mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return fd, info.st_size
    except BaseException:
        os.close(fd)
        raise


def append_whole(path, data, header=b""):
    """Append ``data`` (bytes or str: whole lines) to ``path``, ``header`` first when the file is
    new or empty; the bytes go to the operating system at once (no buffer in the process).

    An append that fails (full disk) is cut back off, so the file keeps its previous lines and
    the error is :class:`CorennError` naming the file. Only a process killed in the middle of the
    write (or a power cut) can leave a torn last line; readers of appended records skip a last
    line that has no newline, and a resumed run rewrites such files from its checkpoint."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(header, str):
        header = header.encode("utf-8")
    try:
        fd, size = _open_for_append(path)
    except OSError as exc:
        raise CorennError(f"could not write {path}: {exc.strerror or exc}") from exc
    try:
        _write_all(fd, header + data if size == 0 else data)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise CorennError(f"could not write {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def remove_stale_temporaries(folder):
    """Delete the temporaries that killed writers left in ``folder``; returns their names.

    Only call this while no other process writes into ``folder`` (a run holds its directory's
    lock, see :mod:`corenn.records.folder`).
    """
    removed = []
    for candidate in Path(folder).glob(f".*{TEMPORARY_SUFFIX}"):
        if candidate.is_file():
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate.name)
    return removed


def _kind_of(mode):
    """What a file that is not a regular one is, in words."""
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def open_regular_file(path, what="file"):
    """``path`` opened for reading in binary, if it is a regular file (a symbolic link to one
    is followed); anything else raises :class:`CorruptFileError` naming ``what`` and the path.

    Opened without blocking and checked on the open descriptor, so a FIFO cannot hang the open
    nor be swapped in between a check and the read. A missing file raises FileNotFoundError."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CorruptFileError(f"{what} {path} is {_kind_of(mode)}; corenn reads only regular files")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded_bytes(path, limit, what="file"):
    """The bytes of the regular file ``path``, refused with :class:`CorruptFileError` beyond
    ``limit`` bytes (checked while reading, so a file that grows meanwhile is caught too)."""
    with open_regular_file(path, what) as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise CorruptFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise CorruptFileError(
            f"{what} {path} is larger than {_size_words(limit)}; corenn reads at most that much of such a file"
        )
    return data


def read_bounded_text(path, limit, what="file"):
    """:func:`read_bounded_bytes` decoded as UTF-8 (a byte-order mark is dropped); undecodable
    bytes raise :class:`CorruptFileError` naming the file and where."""
    data = read_bounded_bytes(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"cannot read {what} {path}: it is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


def read_json_record(path, limit=MAX_RECORD_BYTES, what="record"):
    """The JSON value in the regular file ``path`` (at most ``limit`` bytes). A missing file
    raises FileNotFoundError; anything else that stops it from being read (not a regular file,
    too large, not UTF-8, not JSON, nested too deep) raises :class:`CorruptFileError` naming it."""
    text = read_bounded_text(path, limit, what)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptFileError(f"{what} {path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise CorruptFileError(f"{what} {path} nests arrays or objects too deep to read") from None


def _size_words(size):
    return f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size:,} bytes"


def write_json(path, value):
    atomic_write(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def as_numpy(value):
    """``value`` as a numpy array; a torch tensor (on any device) is copied to the host.

    Duck-typed on ``detach``, so the core never imports torch.
    """
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def save_arrays(path, arrays):
    """Save a dict of name -> array (or tensor) as an uncompressed ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: as_numpy(value) for name, value in arrays.items()})
    atomic_write(path, buffer.getvalue())


def load_arrays(path):
    """Load a ``.npz`` written by :func:`save_arrays` without ever unpickling.

    Raises :class:`CorruptFileError` for a missing, truncated, damaged or foreign file, for one
    that is not a regular file (a FIFO, a device), and for one holding pickled objects (loading
    those could run code, so corenn refuses them).
    """
    path = Path(path)
    try:
        stream = open_regular_file(path, "array file")
    except FileNotFoundError:
        raise CorruptFileError(f"{path} does not exist") from None
    with stream:
        return _load_open_arrays(path, stream)


def _load_open_arrays(path, stream):
    try:
        if not zipfile.is_zipfile(stream):
            # np.load would also accept a bare .npy; a corenn array file is always an archive.
            raise CorruptFileError(_not_an_archive(path, stream))
        _check_archive(path, stream)
        stream.seek(0)
        with np.load(stream, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except CorruptFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CorruptFileError(
                f"{path} holds pickled objects; corenn never loads those (they can run code)"
            ) from exc
        raise CorruptFileError(f"{path} is not a valid corenn array file: {exc}") from exc
    except _DAMAGED_FILE_ERRORS as exc:
        raise CorruptFileError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc})") from exc


def _check_archive(path, stream):
    """Every member whole (CRC-32) and every member listed, before numpy reads any of them.

    numpy checks no CRC when it reads fewer bytes than a member holds (as it does when damage
    shrank the shape in an array's header), and zipfile trusts a damaged directory that lists
    fewer members than the archive has; both would pass damage on silently.
    """
    stream.seek(0)
    with zipfile.ZipFile(stream) as archive:
        members = archive.infolist()
        for member in members:
            # Opened by its directory entry, not by name: zipfile then also checks that the
            # entry's name is the member's own (a damaged name could shadow another member).
            try:
                with archive.open(member) as member_stream:
                    while member_stream.read(_CHUNK_BYTES):
                        pass
            except zipfile.BadZipFile as exc:
                raise CorruptFileError(f"{path} is truncated or corrupt (member {member.filename}: {exc})") from exc
        names = [member.filename for member in members]
        if len(set(names)) != len(names):
            raise CorruptFileError(f"{path} is truncated or corrupt (its directory names a member twice)")
        listed = len(members)
    declared = _declared_member_count(stream)
    if declared is not None and declared != listed:
        raise CorruptFileError(f"{path} is truncated or corrupt (its directory lists {listed} of {declared} members)")


def _declared_member_count(stream):
    """The member count in the zip's end record, or None when it has a comment or is zip64."""
    end_record = b"PK\x05\x06"
    stream.seek(-22, os.SEEK_END)
    tail = stream.read(22)
    if tail[:4] != end_record:
        return None
    (count,) = struct.unpack("<H", tail[10:12])
    return None if count == 0xFFFF else count


def _not_an_archive(path, stream):
    stream.seek(0)
    head = stream.read(2)
    if head[:1] == b"\x80":
        return f"{path} is a pickle, not an .npz archive; corenn never loads pickles (they can run code)"
    return f"{path} is truncated or corrupt (not an .npz archive)"
