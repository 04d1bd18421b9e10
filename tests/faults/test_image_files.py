"""Hostile image folders: each image is read through a bounded reader (regular files only, six
allowed formats whatever the suffix, pixel and decoded-size limits checked from the headers
before anything is decoded), 16-bit and float images keep their brightness, the colour mode is
inferred from the images, the decode cache sees changed contents, and Pillow's warnings are
said once, on one line.

Before (issue 22, holes 3, 4, 5 and 13): PostScript named ``photo.png`` made Pillow run
Ghostscript; 30 links to one 12000 x 12000 PNG asked for 12.1 GiB; a 400-Mpx PNG gave
"unexpected DecompressionBombError" naming no file; 16-bit PNGs decoded to 255 everywhere; a
changed image of the same size and time was served stale from the cache.
"""

import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import corenn.machine
from corenn.data.image_folders import load_image_folder
from corenn.errors import DataError

from faultkit import environment

GiB = 2**30


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zeros_png(path, width, height, *, pixels=True, extra_chunks=b""):
    """A grey 8-bit PNG of zeros written without ever holding the image (its rows compressed one
    by one); without ``pixels`` only its header and an empty IDAT (enough for a header read)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width)
    body = b"".join(compressor.compress(row) for _ in range(height if pixels else 0)) + compressor.flush()
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n" + header + extra_chunks + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
    )
    return Path(path)


def small_folder(root, classes=("a", "b"), count=2, mode="L"):
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for number in range(count):
            Image.new(mode, (6, 5), color=40 * index + number if mode == "L" else (40 * index, number, 9)).save(
                root / name / f"{number}.png"
            )
    return root


def corenn_train(tmp_path, dataset_lines, *, env=None, timeout=120):
    config = tmp_path / "images.toml"
    config.write_text(
        textwrap.dedent(
            """\
            name = "images"
            epochs = 1
            [dataset]
            name = "image_folder"
            batch_size = 2
            val_size = 0
            test_size = 0
            {dataset}
            [[layers]]
            name = "flatten"
            [[layers]]
            name = "fully_connected"
            n_out = "auto"
            activation = "softmax"
            """
        ).format(dataset="\n".join(dataset_lines)),
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-m",
        "corenn",
        "train",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env or environment(), timeout=timeout)


def one_line(completed):
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 1 and len(lines) == 1, completed.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in completed.stderr
    return lines[0]


def test_postscript_named_png_never_reaches_ghostscript(tmp_path):
    """A fake ``gs`` first on PATH notes every call: Pillow must never start it."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    marker = tmp_path / "ghostscript-ran"
    fake = bin_folder / "gs"
    fake.write_text(f'#!/bin/sh\necho "$@" > {marker}\nexit 1\n', encoding="utf-8")
    fake.chmod(0o755)
    root = small_folder(tmp_path / "pictures")
    (root / "a" / "photo.png").write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 6 5\n%%EndComments\nnewpath 0 0 moveto 6 5 lineto stroke\n%%EOF\n"
    )
    env = environment(PATH=f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}")
    line = one_line(corenn_train(tmp_path, [f'root = "{root}"'], env=env))
    assert not marker.exists(), f"Ghostscript was run: {marker.read_text()}"
    assert "photo.png" in line and "is not a PNG, JPEG, BMP, GIF, WEBP, TIFF image" in line


def test_thirty_links_to_a_huge_png_are_refused_from_their_headers(tmp_path, monkeypatch):
    """30 links to one 12000 x 12000 PNG (4.0 GiB decoded, grey) against 16 GiB of memory
    (0.64 GiB of decoded images, a 25th): refused by reading headers alone, in a few MB."""
    huge = zeros_png(tmp_path / "huge.png", 12000, 12000)
    root = tmp_path / "links"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for number in range(15):
            (root / name / f"{number}.png").symlink_to(huge)
    monkeypatch.setattr(corenn.machine, "host_memory_available", lambda: 16 * GiB)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as refused:
            load_image_folder(root=str(root))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == (
        f"image folder {root} holds 30 images of 12000x12000 pixels, grey: 4.02 GiB decoded, and training makes "
        "about 24 times that in floating point; 16.00 GiB of memory is available, so at most 0.64 GiB of decoded "
        "images; set dataset.size = [height, width] to resize them smaller, or use fewer images"
    )
    assert peak < 16 * 2**20, f"reading 30 headers took {peak / 2**20:.0f} MiB"


def test_an_image_with_too_many_pixels_is_named(tmp_path):
    """A 20000 x 20000 PNG header (400 Mpx; the file is 65 bytes): one line naming the file."""
    root = small_folder(tmp_path / "pictures")
    zeros_png(root / "b" / "huge.png", 20000, 20000, pixels=False)
    line = one_line(corenn_train(tmp_path, [f'root = "{root}"']))
    assert line == (
        f"corenn train: error: image {root / 'b' / 'huge.png'} has 400,000,000 pixels; corenn decodes images "
        "of at most 178,956,970 pixels: make it smaller"
    )


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_only_regular_files_are_read(tmp_path, kind):
    """A FIFO named like an image would hang the reader; a link to /dev/zero never ends."""
    root = small_folder(tmp_path / "pictures")
    planted = root / "a" / "planted.png"
    if kind == "fifo":
        os.mkfifo(planted)
    else:
        planted.symlink_to("/dev/zero")
    line = one_line(corenn_train(tmp_path, [f'root = "{root}"'], timeout=60))
    what = "a FIFO (named pipe)" if kind == "fifo" else "a character device"
    assert (
        line
        == f"corenn train: error: image {planted} is {what}; corenn reads only regular files; remove it from the folder"
    )


def test_sixteen_bit_and_float_images_keep_their_brightness(tmp_path):
    """16-bit values v become round(v / 257) (65535 -> 255), float values f in [0, 1] become
    round(255 f): the same brightness as an 8-bit image of them. Pillow's own conversion
    clipped every 16-bit value above 255 to 255, so two classes looked the same."""
    root = tmp_path / "pictures"
    (root / "dark").mkdir(parents=True)
    (root / "bright").mkdir()
    (root / "float").mkdir()
    for number in range(3):
        Image.fromarray(np.full((5, 6), 1000 + number, np.uint16)).save(root / "dark" / f"{number}.png")
        Image.fromarray(np.full((5, 6), 60000, np.uint16)).save(root / "bright" / f"{number}.png")
    Image.fromarray(np.full((5, 6), 0.25, np.float32)).save(root / "float" / "quarter.tif")
    splits = load_image_folder(root=str(root), val_size=0, test_size=0)
    by_class = {
        name: np.unique(splits.train.X[splits.train.y == index]) for index, name in enumerate(splits.class_names)
    }
    assert by_class["bright"].tolist() == [233]  # 60000 / 257 = 233.46
    assert by_class["dark"].tolist() == [4]  # 1000..1002 / 257 = 3.9
    assert by_class["float"].tolist() == [64]  # 0.25 * 255 = 63.75


@pytest.mark.parametrize("value", [1.5, -0.5, float("nan")])
def test_a_float_image_outside_zero_to_one_is_refused(tmp_path, value):
    root = small_folder(tmp_path / "pictures")
    Image.fromarray(np.full((5, 6), value, np.float32)).save(root / "a" / "odd.tif")
    with pytest.raises(DataError, match=r"odd\.tif is a float image with values outside \[0, 1\]"):
        load_image_folder(root=str(root), val_size=0, test_size=0, cache=False)


def test_channels_are_inferred_from_the_images(tmp_path):
    """Grey images give one channel without ``grayscale = true``; one colour image among them
    gives three; the config's own choice stands; where it came from is recorded."""
    grey = small_folder(tmp_path / "grey")
    splits = load_image_folder(root=str(grey), val_size=0, test_size=0)
    assert splits.input_shape == (5, 6, 1)
    assert splits.inputs["grayscale"] is True and splits.inputs["channels_from"] == "images"
    Image.new("RGB", (6, 5), (200, 10, 10)).save(grey / "b" / "red.png")
    splits = load_image_folder(root=str(grey), val_size=0, test_size=0)
    assert splits.input_shape == (5, 6, 3) and splits.inputs["grayscale"] is False
    splits = load_image_folder(root=str(grey), val_size=0, test_size=0, grayscale=True)
    assert splits.input_shape == (5, 6, 1) and splits.inputs["channels_from"] == "config"


def test_the_decode_cache_sees_a_change_that_keeps_size_and_time(tmp_path):
    """BMP files of one size always have the same byte size; the changed file gets its old
    modification time back: the cache must still not serve the old pixels."""
    root = tmp_path / "pictures"
    for name, shade in (("a", 10), ("b", 200)):
        (root / name).mkdir(parents=True)
        for number in range(2):
            Image.new("L", (6, 5), shade + number).save(root / name / f"{number}.bmp")
    first = load_image_folder(root=str(root), val_size=0, test_size=0)
    target = root / "a" / "0.bmp"
    times = target.stat()
    size = times.st_size
    Image.new("L", (6, 5), 99).save(target)
    os.utime(target, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert target.stat().st_size == size and target.stat().st_mtime_ns == times.st_mtime_ns
    second = load_image_folder(root=str(root), val_size=0, test_size=0)
    assert 10 in first.train.X and 99 not in first.train.X
    assert 99 in second.train.X and 10 not in second.train.X


def test_pillow_warnings_are_said_once_on_one_line(tmp_path):
    """Three PNGs with a damaged animation chunk: Pillow warns for each (two raw lines each,
    twice: header and decode); corenn says it once, in one line, naming the first image."""
    root = small_folder(tmp_path / "pictures")
    damaged = png_chunk(b"acTL", struct.pack(">II", 0, 0))
    for number in range(3):
        zeros_png(root / "b" / f"apng-{number}.png", 6, 5, extra_chunks=damaged)
    completed = corenn_train(tmp_path, [f'root = "{root}"'])
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        "corenn: warning: Pillow warned about 3 images (Invalid APNG, will use default PNG image if possible); "
        f"the first: {root / 'b' / 'apng-0.png'} (UserWarning)"
    ]
