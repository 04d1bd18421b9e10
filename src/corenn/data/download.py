"""Where data sets live, and fetching the files of one that is missing.

Data sets use torchvision's folder layout under one data root (``MNIST/raw/``,
``FashionMNIST/raw/``, ``cifar-10-batches-py/``), so a folder torchvision filled works here and
the other way round. The root is, first found: the ``data_dir`` argument (``--data-dir`` on
the command line), the ``CORENN_DATA_DIR`` environment variable, ``~/.cache/corenn/data``.

A missing file is downloaded from the mirrors torchvision uses, to a temporary name in the
target folder; its MD5 is checked, and only then is it renamed into place (atomically, so a
half-written file never looks like data). Without network, the error names the files expected
and the folder to put them in.
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from corenn.errors import DataError

DATA_DIR_ENV = "CORENN_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/corenn/data")
DOWNLOAD_TIMEOUT_SECONDS = 60
_CHUNK_BYTES = 1 << 20


def resolve_data_dir(data_dir=None):
    """The data root: ``data_dir`` if given, else ``$CORENN_DATA_DIR``, else ``~/.cache/corenn/data``."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


@dataclass(frozen=True)
class RemoteFile:
    """A file a data set needs: its name in the data set's folder and its MD5."""

    name: str
    md5: str


def md5_of(path):
    """The hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_files(folder, files, mirrors, *, dataset):
    """Make sure every one of ``files`` is in ``folder``, downloading the missing ones.

    ``mirrors`` are base URLs tried in order for each missing file. Returns the paths of all
    ``files``. Raises DataError, naming the data set, the files missing and the folder, when a
    missing file cannot be downloaded or its download fails the MD5 check.
    """
    folder = Path(folder)
    missing = [file for file in files if not (folder / file.name).is_file()]
    for file in missing:
        reason = _download(folder, file, mirrors)
        if reason is not None:  # the next files would most likely fail the same way: stop here
            names = ", ".join(f.name for f in missing if not (folder / f.name).is_file())
            raise DataError(
                f"{dataset} is not in {folder}: missing {names}, and downloading {file.name} "
                f"failed ({reason}). Put the files there (torchvision's layout), or choose "
                f"another data root with --data-dir or {DATA_DIR_ENV}."
            )
    return [folder / file.name for file in files]


def _download(folder, file, mirrors):
    """Fetch ``file`` into ``folder`` from the first mirror that works; ``None`` on success,
    else why it failed everywhere."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder ({exc.strerror or exc})"
    reasons = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file.name
        try:
            _fetch_checked(url, folder / file.name, file.md5)
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reasons.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    return "; ".join(reasons) if reasons else "no mirror to download from"


def _fetch_checked(url, target, expected_md5):
    """Download ``url`` to a temporary file beside ``target``, check its MD5, rename it into place."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.md5()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected_md5:
            raise ValueError(f"MD5 {digest.hexdigest()} differs from the expected {expected_md5}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
