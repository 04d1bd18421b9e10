"""Data files built to hurt: a gzip bomb whose header claims billions of images, and a valid
gzip with one pixel changed. Both are refused with one line naming the file, in bounded memory."""

import gzip
import json
import subprocess
import sys
import textwrap

import pytest

from faultkit import SHARED_MNIST, TIMEOUT_S, environment, one_line_error, replace_file, run_corenn

BOMB_MEMBER_BYTES = 16 << 20  # 16 MiB of zeros compresses to about 16 KB
BOMB_MEMBERS = 256  # 4 GiB once decompressed, from a file of about 4 MB
MEMORY_LIMIT_BYTES = 1536 << 20  # address space of the reading process: far below what the bomb expands to


def gzip_bomb(header):
    """``header`` then 4 GiB of zeros, as a valid multi-member gzip file of about 4 MB."""
    zeros = gzip.compress(bytes(BOMB_MEMBER_BYTES), compresslevel=9)
    return gzip.compress(header) + zeros * BOMB_MEMBERS


LOAD_UNDER_LIMIT = textwrap.dedent("""\
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from corenn.data.mnist import load_mnist
    from corenn.errors import DataError
    try:
        load_mnist(sys.argv[1])
        outcome = "loaded"
    except DataError as exc:
        outcome = str(exc)
    except MemoryError:
        outcome = "MemoryError"
    # VmHWM is this process's own peak; ru_maxrss would also count the parent's pages at fork
    # (Linux keeps that high-water mark across exec), so a big pytest process would fail the test.
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({{"outcome": outcome, "peak_rss_mib": peak_kib / 1024}}))
""")


def load_under_memory_limit(data_root):
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_UNDER_LIMIT.format(limit=MEMORY_LIMIT_BYTES), str(data_root)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=environment(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1"),
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("count", [2**31, 60_000])
def test_a_gzip_bomb_is_refused_in_bounded_memory(mnist_copy, count):
    """Before: the whole file was decompressed before its header was read; a 6 MB file whose
    header claims 2^31 images took 3.9 GB and ended in a MemoryError traceback. Now the header
    is refused after 16 bytes (2^31 images), or the expected 47 MB are read and one byte more
    shows the padding (60,000 images, then gigabytes of zeros)."""
    header = b"".join(n.to_bytes(4, "big") for n in (2051, count, 28, 28))
    path = replace_file(mnist_copy, "train-images-idx3-ubyte.gz", gzip_bomb(header))
    assert path.stat().st_size < 6_000_000
    result = load_under_memory_limit(mnist_copy.parent.parent)
    if count == 2**31:
        assert result["outcome"] == f"{path} holds an IDX array of shape (2147483648, 28, 28), expected (60000, 28, 28)"
    else:
        assert result["outcome"].startswith(
            f"{path} has more than 47040016 bytes after decompression, expected exactly 47040016"
        )
    assert result["peak_rss_mib"] < 400, result


def train_lenet_on(mnist_raw, tmp_path):
    """``corenn train --preset lenet-mnist`` with the data root holding ``mnist_raw``."""
    data_root = mnist_raw.parent.parent
    return run_corenn(
        "train", "--preset", "lenet-mnist", "--out", tmp_path / "out", env=environment(CORENN_DATA_DIR=str(data_root))
    )


def test_a_gzip_bomb_is_one_line_from_the_cli(mnist_copy, tmp_path):
    header = b"".join(n.to_bytes(4, "big") for n in (2051, 2**31, 28, 28))
    path = replace_file(mnist_copy, "train-images-idx3-ubyte.gz", gzip_bomb(header))
    completed = train_lenet_on(mnist_copy, tmp_path)
    assert (
        one_line_error(completed)
        == f"corenn train: error: {path} holds an IDX array of shape (2147483648, 28, 28), expected (60000, 28, 28)"
    )


def test_a_changed_pixel_in_a_valid_gzip_is_an_error_naming_the_file(mnist_copy, tmp_path):
    """The file is a valid gzip of a valid IDX array of the right shape; only its MD5 tells.
    WHAT THE USER SEES: ``corenn train: error: PATH is a valid IDX file but not the official one:
    its MD5 is ..., expected 9fb629c4189551a2d022fa330f9573f3 (a changed pixel or label); delete it
    to download it again``"""
    raw = bytearray(gzip.decompress((SHARED_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[16 + 28 * 14 + 14] ^= 0x01  # one pixel in the middle of the first test image
    path = replace_file(mnist_copy, "t10k-images-idx3-ubyte.gz", gzip.compress(bytes(raw)))
    completed = train_lenet_on(mnist_copy, tmp_path)
    line = one_line_error(completed)
    assert line.startswith(f"corenn train: error: {path} is a valid IDX file but not the official one: its MD5 is ")
    assert line.endswith(
        ", expected 9fb629c4189551a2d022fa330f9573f3 (a changed pixel or label); delete it to download it again"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
