"""Fuzzing the readers of untrusted files with hypothesis: image folders (and the images that
``corenn predict --input`` decodes), a run folder's records (JSON records, config, array files)
and config paths. Whatever the bytes, a reader returns or raises corenn's own error, whose
message is one line; any other exception is what a user would see as "unexpected ... (a bug in
corenn or a plugin)".

Inputs are valid files of each kind (images of every mode and format corenn reads; records and
configs a run writes) with bytes flipped, inserted, cut or replaced, header fields set to
extreme values, and raw bytes. The examples are few and small enough for the fault session:
1,100 in some 6 s (``CORENN_FUZZ_SCALE=20`` searches longer).
"""

import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

import corenn.data.image_folders as image_folders
from corenn.errors import CorennError
from corenn.files import load_arrays, read_json_record
from corenn.records.folder import RunRecorder
from corenn.run.config import load_config, load_preset

SCALE = int(os.environ.get("CORENN_FUZZ_SCALE", "1"))


def fuzz(examples):
    """The suite's examples, always the same (a CI failure replays); ``CORENN_FUZZ_SCALE=N``
    draws N times as many, new ones each run, for a longer search by hand."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def one_line_error(exc):
    assert isinstance(exc, CorennError), f"{type(exc).__name__}: {exc}"
    assert "\n" not in str(exc), str(exc)


# --- bytes: a valid file, then damaged ----------------------------------------------------------


@st.composite
def damaged(draw, valid):
    """``valid`` (bytes) damaged by a few edits: a byte set, a run inserted, a cut, a slice
    repeated; or left whole; or replaced by random bytes."""
    data = bytearray(valid)
    kind = draw(st.sampled_from(["edits", "edits", "edits", "whole", "random"]))
    if kind == "whole":
        return bytes(data)
    if kind == "random":
        return draw(st.binary(max_size=512))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["set", "insert", "cut", "repeat", "extreme"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if edit == "set" and data:
            data[position] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "cut":
            del data[position : position + draw(st.integers(1, 64))]
        elif edit == "repeat":
            data[position:position] = data[position : position + draw(st.integers(1, 64))]
        elif edit == "extreme" and len(data) >= position + 4:
            data[position : position + 4] = struct.pack(
                ">I", draw(st.sampled_from([0, 1, 2**15, 2**16, 2**31 - 1, 2**32 - 1]))
            )
    return bytes(data)


# --- images -----------------------------------------------------------------------------------

IMAGE_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]
SAVE_FORMATS = {"PNG": ".png", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif", "JPEG": ".jpg", "WEBP": ".webp"}


@st.composite
def image_files(draw):
    """``(suffix, bytes)``: an image of a random mode and size saved in a random format (what
    Pillow can write of it), then perhaps damaged."""
    mode = draw(st.sampled_from(IMAGE_MODES))
    width, height = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if mode in ("I;16",):
        image = Image.fromarray(rng.integers(0, 2**16, (height, width), dtype=np.uint16))
    elif mode == "I":
        image = Image.fromarray(rng.integers(-(2**20), 2**20, (height, width), dtype=np.int32))
    elif mode == "F":
        image = Image.fromarray(rng.uniform(-0.5, 1.5, (height, width)).astype(np.float32))
    else:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)
    fmt = draw(st.sampled_from(sorted(SAVE_FORMATS)))
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # Pillow cannot write this mode in this format
        image.convert("RGB").save(buffer, format="PNG")
        fmt = "PNG"
    return SAVE_FORMATS[fmt], draw(damaged(buffer.getvalue()))


@pytest.fixture
def small_limits(monkeypatch, tmp_path):
    """A pixel limit of 64 x 64 (the fuzzed headers claim sizes up to 2**32): the same checks,
    without decoding gigabytes; and a decode cache of the test's own."""
    monkeypatch.setattr(image_folders, "MAX_IMAGE_PIXELS", 64 * 64)
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))


@fuzz(400)
@given(image=image_files(), grayscale=st.sampled_from([None, True, False]), size=st.sampled_from([None, [4, 5]]))
def test_image_folders_read_any_bytes_or_refuse_them_in_one_line(
    tmp_path_factory, small_limits, image, grayscale, size
):
    root = tmp_path_factory.mktemp("images")
    for name in ("a", "b"):
        (root / name).mkdir()
        Image.new("L", (3, 2), 7).save(root / name / "plain.png")
    suffix, data = image
    (root / "a" / f"fuzzed{suffix}").write_bytes(data)
    try:
        splits = image_folders.load_image_folder(
            root=str(root), grayscale=grayscale, size=size, val_size=0, test_size=0
        )
    except Exception as exc:  # noqa: BLE001 (any exception must be corenn's, in one line)
        one_line_error(exc)
        return
    X = splits.train.X
    assert X.dtype == np.uint8 and X.ndim == 4 and len(X) == 3
    try:
        single = image_folders.decode_image(root / "a" / f"fuzzed{suffix}", size, bool(grayscale))
    except Exception as exc:  # noqa: BLE001
        one_line_error(exc)
    else:
        assert single.dtype == np.uint8 and single.ndim == 3


# --- a run folder's records -------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_records(tmp_path_factory):
    """The bytes of a real run's records (iris, two epochs)."""
    from corenn.run.config import with_overrides
    from corenn.run.train import train

    out = tmp_path_factory.mktemp("run")
    result = train(with_overrides(load_preset("iris-ffnn"), epochs=2), out_dir=out, verbose=False)
    run_dir = result["run_dir"]
    names = ("metrics.json", "result.json", "config.toml", "parameters.npz", "preprocessing.json")
    return {name: (out / "iris-ffnn" / name).read_bytes() for name in names} | {"run_dir": run_dir}


JSON_TEXTS = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
).map(lambda value: json.dumps(value).encode())


@fuzz(300)
@given(name=st.sampled_from(["metrics.json", "result.json"]), data=st.data())
def test_json_records_read_or_read_as_missing(tmp_path_factory, run_records, name, data):
    contents = data.draw(st.one_of(damaged(run_records[name]), JSON_TEXTS, st.just(b"[" * 5000)))
    folder = tmp_path_factory.mktemp("records")
    (folder / name).write_bytes(contents)
    recorder = RunRecorder(folder)
    read = recorder.read_metrics() if name == "metrics.json" else recorder.read_result()
    assert read is None or isinstance(read, (list, dict)) or read == [] or read is not None
    try:
        read_json_record(folder / name)
    except Exception as exc:  # noqa: BLE001
        one_line_error(exc)


@fuzz(200)
@given(data=st.data())
def test_a_config_file_loads_or_is_refused_in_one_line(tmp_path_factory, run_records, data):
    valid = run_records["config.toml"]
    contents = data.draw(
        st.one_of(
            damaged(valid),
            st.text(max_size=300).map(str.encode),
            st.just(b"\xef\xbb\xbf" + valid),  # a byte-order mark, as some editors write
            st.just(b"a = " + b"[" * 3000 + b"]" * 3000),
        )
    )
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_bytes(contents)
    try:
        load_config(path)
    except Exception as exc:  # noqa: BLE001
        one_line_error(exc)


@fuzz(200)
@given(data=st.data())
def test_array_files_load_or_are_refused_in_one_line(tmp_path_factory, run_records, data):
    contents = data.draw(damaged(run_records["parameters.npz"]))
    path = tmp_path_factory.mktemp("arrays") / "parameters.npz"
    path.write_bytes(contents)
    try:
        arrays = load_arrays(path)
    except Exception as exc:  # noqa: BLE001
        one_line_error(exc)
    else:
        assert all(isinstance(value, np.ndarray) for value in arrays.values())


def test_a_zip_member_that_lies_about_its_size_is_refused(tmp_path, run_records):
    """A member whose directory entry claims fewer bytes than it holds (or more): zipfile's own
    check, reached through the bounded reader, is corenn's one line."""
    source = io.BytesIO(run_records["parameters.npz"])
    with zipfile.ZipFile(source) as archive:
        first = archive.infolist()[0]
        payload = archive.read(first)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(first.filename, payload)
    data = bytearray(buffer.getvalue())
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, len(payload) // 2)  # the uncompressed size, halved
    path = tmp_path / "lying.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(CorennError, match="truncated or corrupt"):
        load_arrays(path)
    assert zlib.crc32(payload)  # the payload itself was whole
