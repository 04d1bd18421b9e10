"""Bad input in a user's own data and in ``corenn predict --input`` gets one line naming what is
wrong (the file, the line, the column) and exit status 1, never a traceback."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from own_data_files import mlp_config
from suite_helpers import run_command


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))


def one_line_error(capsys, argv, *fragments):
    code, _, err = run_command(capsys, *argv)
    assert code == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def train_argv(tmp_path, dataset, name="run", **options):
    config = tmp_path / f"{name}.toml"
    config.write_text(mlp_config(name, dataset, epochs=2, **options))
    return ["train", "--config", config, "--out", tmp_path / "runs", "--quiet"]


GOOD_ROWS = "a,b,label\n" + "".join(f"{i},{i % 3 + 0.5},{'xy'[i % 2]}\n" for i in range(20))


def test_a_ragged_csv_row_names_file_line_and_count(tmp_path, capsys):
    path = tmp_path / "ragged.csv"
    path.write_text(GOOD_ROWS + "7,x\n" + "1,2,x\n" * 3)
    lines = GOOD_ROWS.count("\n") + 1
    one_line_error(
        capsys,
        train_argv(tmp_path, {"name": "csv", "path": path}),
        "ragged.csv",
        f"line {lines}",
        "2 field(s)",
        "expected 3",
    )


def test_a_non_numeric_value_names_file_line_and_column(tmp_path, capsys):
    path = tmp_path / "text.csv"
    path.write_text(GOOD_ROWS.replace("\n5,", "\nfive,", 1))
    one_line_error(
        capsys,
        train_argv(tmp_path, {"name": "csv", "path": path}),
        "text.csv line 7",
        "column 'a'",
        "'five' is not a number",
    )


def test_an_empty_value_names_its_column(tmp_path, capsys):
    path = tmp_path / "hole.csv"
    path.write_text(GOOD_ROWS.replace("\n4,1.5,", "\n4,,", 1))
    one_line_error(
        capsys, train_argv(tmp_path, {"name": "csv", "path": path}), "hole.csv line 6", "column 'b'", "empty"
    )


def test_a_missing_label_column_lists_the_columns(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text(GOOD_ROWS)
    one_line_error(
        capsys,
        train_argv(tmp_path, {"name": "csv", "path": path, "label": "species"}),
        "no column 'species'",
        "a, b, label",
    )


def test_a_class_only_in_the_test_file(tmp_path, capsys):
    train = tmp_path / "train.csv"
    train.write_text(GOOD_ROWS)
    test = tmp_path / "test.csv"
    test.write_text("a,b,label\n1,2,x\n3,4,zebra\n")
    one_line_error(
        capsys,
        train_argv(tmp_path, {"name": "csv", "train": train, "test": test}),
        "test.csv",
        "'zebra'",
        "only in the test file",
    )


def write_images(folder, count=4, size=(6, 6), colour=0):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("L", (size[1], size[0]), color=colour + index).save(folder / f"{index}.png")


def image_folder(tmp_path):
    root = tmp_path / "pictures"
    write_images(root / "cats", colour=10)
    write_images(root / "dogs", colour=200)
    return root


def test_an_empty_class_folder(tmp_path, capsys):
    root = image_folder(tmp_path)
    (root / "birds").mkdir()
    (root / "birds" / "notes.txt").write_text("no pictures here")
    argv = train_argv(tmp_path, {"name": "image_folder", "root": root, "grayscale": True}, flatten=True)
    one_line_error(capsys, argv, "class folder", "birds", "holds no images")


def test_a_corrupt_image_is_named(tmp_path, capsys):
    root = image_folder(tmp_path)
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    argv = train_argv(tmp_path, {"name": "image_folder", "root": root, "grayscale": True}, flatten=True)
    one_line_error(capsys, argv, "cannot read image", "broken.png")


def test_images_of_different_sizes_need_size(tmp_path, capsys):
    root = image_folder(tmp_path)
    write_images(root / "dogs" / "big", count=1, size=(9, 7))
    argv = train_argv(tmp_path, {"name": "image_folder", "root": root, "grayscale": True}, flatten=True)
    one_line_error(capsys, argv, "images differ in size", "7x9", "dataset.size")
    argv = train_argv(tmp_path, {"name": "image_folder", "root": root, "grayscale": True, "size": [6, 6]}, flatten=True)
    assert run_command(capsys, *argv)[0] == 0


class _Touch:
    """Unpickling this object creates a file: the proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_an_npz_with_pickled_objects_is_refused_unread(tmp_path, capsys):
    marker = tmp_path / "pickle-was-loaded"
    objects = np.empty(2, dtype=object)
    objects[:] = [_Touch(marker), _Touch(marker)]
    path = tmp_path / "hostile.npz"
    np.savez(path, X=np.zeros((2, 3)), y=objects)
    assert pickle.loads(pickle.dumps(_Touch(tmp_path / "check"))) is None and (tmp_path / "check").exists()
    one_line_error(capsys, train_argv(tmp_path, {"name": "npz", "path": path}), "hostile.npz", "'y'", "pickle")
    assert not marker.exists(), "the pickled objects were loaded"


@pytest.fixture
def table_run(tmp_path, capsys, no_plots):
    path = tmp_path / "data.csv"
    path.write_text(GOOD_ROWS)
    assert run_command(capsys, *train_argv(tmp_path, {"name": "csv", "path": path}, name="table"))[0] == 0
    return tmp_path / "runs" / "table"


def test_predict_input_with_the_wrong_number_of_features(tmp_path, capsys, table_run):
    rows = tmp_path / "new.csv"
    rows.write_text("1,2,3,4\n4,5,6,7\n")  # (3 columns would be read as 2 features and a label)
    one_line_error(capsys, ["predict", table_run, "--input", rows], "new.csv", "4 feature column(s)", "takes 2 (a, b)")
    arrays = tmp_path / "new.npz"
    np.savez(arrays, X=np.zeros((4, 5)))
    one_line_error(
        capsys, ["predict", table_run, "--input", arrays], "samples of shape (5,)", "rows of 2 features (a, b)"
    )
    image = tmp_path / "photo.png"
    write_images(tmp_path / "photos", count=1)
    (tmp_path / "photos" / "0.png").rename(image)
    one_line_error(capsys, ["predict", table_run, "--input", image], "photo.png", "is an image", "rows of 2 features")


def test_predict_input_with_the_wrong_image_shape(tmp_path, capsys, no_plots):
    root = image_folder(tmp_path)
    argv = train_argv(tmp_path, {"name": "image_folder", "root": root, "grayscale": True}, name="pics", flatten=True)
    assert run_command(capsys, *argv)[0] == 0
    run = tmp_path / "runs" / "pics"
    write_images(tmp_path / "other", count=1, size=(10, 8))
    one_line_error(capsys, ["predict", run, "--input", tmp_path / "other"], "0.png is 8x10", "takes 6x6 images")
    table = tmp_path / "rows.csv"
    table.write_text("1,2\n")
    one_line_error(capsys, ["predict", run, "--input", table], "rows.csv", "grey images of 6x6 pixels")
    np.savez(tmp_path / "colour.npz", X=np.zeros((2, 6, 6, 3), dtype=np.uint8))
    one_line_error(
        capsys, ["predict", run, "--input", tmp_path / "colour.npz"], "samples of shape (6, 6, 3)", "(n, 6, 6, 1)"
    )


def test_config_mistakes_name_the_key(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text(GOOD_ROWS)
    one_line_error(capsys, train_argv(tmp_path, {"name": "csv", "path": path, "val_size": 1.5}), "dataset.val_size")
    one_line_error(capsys, train_argv(tmp_path, {"name": "csv"}), 'path = "data.csv"')
    one_line_error(
        capsys, train_argv(tmp_path, {"name": "csv", "path": tmp_path / "nowhere.csv"}), "nowhere.csv does not exist"
    )
    one_line_error(
        capsys, train_argv(tmp_path, {"name": "image_folder", "root": tmp_path, "size": [0, 3]}), "dataset.size"
    )


def test_a_class_folder_only_in_the_test_folder(tmp_path, capsys):
    write_images(tmp_path / "pictures" / "train" / "cats", colour=10)
    write_images(tmp_path / "pictures" / "train" / "dogs", colour=200)
    write_images(tmp_path / "pictures" / "test" / "cats", count=1)
    write_images(tmp_path / "pictures" / "test" / "owls", count=1)
    argv = train_argv(
        tmp_path, {"name": "image_folder", "root": tmp_path / "pictures", "grayscale": True}, flatten=True
    )
    one_line_error(capsys, argv, "'owls'", "only in the test folder")
