"""A user's own files at their edges, as a hostile pass found them: a header of text columns
only or of numbers, a prediction file's header in a table of text columns, labels with spaces or
``NA``, files that are not UTF-8 or not text at all, images in hidden folders and pixels scaled
to 0..1. Each is read as meant, or refused in one line that says what to do."""

import bz2
import gzip
import io
import lzma
import warnings
import zipfile

import numpy as np
import pytest

from corenn.data.columns import InputWarning
from corenn.data.csv_table import load_csv, read_table
from corenn.data.image_folders import list_class_folders
from corenn.errors import CorennError, DataError
from corenn.trained.evaluate import evaluate_input
from corenn.trained.predict_input import predict_input

from own_data_files import mlp_config, write_image_folder
from suite_helpers import run_command

COLOURS, SHAPES, SIZES = ("red", "green", "blue"), ("round", "square"), ("S", "M", "L")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))


def text_rows(count=60):
    """Rows of three text features and a text label (``good`` for round shapes)."""
    rows = []
    for index in range(count):
        shape = SHAPES[index % 2]
        rows.append([COLOURS[index % 3], shape, SIZES[index % 3 - 1], "good" if shape == "round" else "bad"])
    return rows


def write_rows(path, rows, header=None):
    lines = ([",".join(header)] if header else []) + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def train(tmp_path, capsys, dataset, name="run"):
    config = tmp_path / f"{name}.toml"
    config.write_text(mlp_config(name, dataset, epochs=2, hidden=8))
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    return tmp_path / "runs" / name


# 1. A header of text columns only; a header of numbers.


def test_a_header_over_text_columns_only_is_a_header(tmp_path):
    path = write_rows(tmp_path / "shapes.csv", text_rows(), header=["color", "shape", "size", "kind"])
    splits = load_csv(path=str(path))
    assert splits.class_names == ("bad", "good")  # no class 'kind' of one row
    assert splits.inputs["features"] == ["color", "shape", "size"]
    assert load_csv(path=str(path), label="kind").class_names == ("bad", "good")


def test_text_rows_without_a_header_stay_rows(tmp_path):
    path = write_rows(tmp_path / "shapes.csv", text_rows())  # line 1's values recur below it
    splits = load_csv(path=str(path))
    assert splits.inputs["features"] == ["column_1", "column_2", "column_3"]
    assert len(splits.train.y) + len(splits.val.y) + len(splits.test.y) == 60


def test_a_text_line_is_looked_for_in_the_first_thousand_rows_only(tmp_path):
    rows = [[f"r{index}", f"s{index}", "good" if index % 2 else "bad"] for index in range(1001)]
    rows.append(["first", "x", "y"])  # line 1's 'first' again, 1,001 rows below it
    path = write_rows(tmp_path / "ids.csv", [["first", "second", "kind"], *rows])
    assert read_table(path).with_header
    assert not read_table(
        write_rows(tmp_path / "near.csv", [["first", "second", "kind"], *rows[:5], rows[-1]])
    ).with_header


NUMBER_HEADER = "2000,2001,target\n" + "".join(f"{i}.5,{i % 4}.25,{'ab'[i % 2]}\n" for i in range(30))


def test_a_header_of_numbers_named_label_says_to_set_header(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text(NUMBER_HEADER)
    with pytest.raises(DataError) as error:
        load_csv(path=str(path), label="target")
    assert str(error.value) == (
        f"{path} has no header line, so its label column cannot be found by name ('target'): give label as a "
        "0-based column index, or add a header (if its first line is the header, set dataset.header = true)"
    )
    with pytest.raises(DataError) as error:
        load_csv(path=str(path), features=["2000"])
    assert str(error.value) == (
        f"{path} has no column '2000' (dataset.features); its columns: column_1, column_2, column_3 "
        "(if its first line is the header, set dataset.header = true)"
    )
    assert load_csv(path=str(path), label="target", header=True).class_names == ("a", "b")


def test_a_header_of_numbers_with_the_default_label_is_warned_of(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text(NUMBER_HEADER)
    splits = load_csv(path=str(path))
    assert splits.class_names == ("a", "b", "target")
    assert (
        f"warning: {path} line 1 was read as data (header = \"auto\" found no header), so its label 'target' is a "
        "class of that one row; if its first line is the header, set dataset.header = true"
    ) in splits.notes
    assert not any("line 1 was read" in note for note in load_csv(path=str(path), header=False).notes)


def test_an_explicit_header_false_gets_no_hint(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text(NUMBER_HEADER)
    with pytest.raises(DataError, match=r"or add a header$"):
        load_csv(path=str(path), label="target", header=False)


# 2. A file to predict, in a table of text columns: its header is found by the run's names.


@pytest.fixture
def text_run(tmp_path, capsys):
    path = write_rows(tmp_path / "shapes.csv", text_rows(), header=["color", "shape", "size", "kind"])
    return train(tmp_path, capsys, {"name": "csv", "path": path}, name="shapes")


def predicted(run, path):
    text, count = predict_input(run, path)
    return text.splitlines()[1:], count


def test_predict_reads_a_header_of_the_runs_names_in_any_order(tmp_path, text_run):
    rows = [["red", "round", "S"], ["blue", "square", "L"], ["green", "round", "M"]]
    in_order, count = predicted(text_run, write_rows(tmp_path / "new.csv", rows, header=["color", "shape", "size"]))
    assert count == 3 and [line.split(",")[0] for line in in_order] == ["1", "2", "3"]
    reordered = write_rows(
        tmp_path / "reordered.csv",
        [[shape, size, "x", colour] for colour, shape, size in rows],
        header=["shape", "size", "id", "color"],
    )
    assert predicted(text_run, reordered) == (in_order, 3)
    headerless, _ = predicted(text_run, write_rows(tmp_path / "bare.csv", rows))
    assert headerless == in_order
    one_row, count = predicted(text_run, write_rows(tmp_path / "one.csv", rows[:1]))
    assert count == 1 and one_row == in_order[:1]


def test_evaluate_reads_the_header_and_label_of_a_text_table(tmp_path, text_run):
    rows = [["square", "red", "S", "bad"], ["round", "blue", "M", "good"]]
    report = evaluate_input(
        text_run, write_rows(tmp_path / "labelled.csv", rows, header=["shape", "color", "size", "kind"])
    )
    assert report["samples"] == 2


def test_a_header_missing_one_of_the_runs_text_columns_is_named(tmp_path, text_run):
    path = write_rows(tmp_path / "short.csv", [["red", "round"]], header=["color", "shape"])
    with pytest.raises(DataError) as error:
        predict_input(text_run, path)
    assert str(error.value) == (
        f"{path} has feature columns color, shape, but the model takes 3: color, shape, size (missing: size)"
    )


def test_a_header_of_other_names_over_numbers_is_a_header_for_a_text_run(tmp_path, text_run):
    path = tmp_path / "wrong.csv"
    path.write_text("hue,ash,alcohol,label\n1.04,2.43,14.2,a\n")
    with pytest.raises(DataError) as error:
        predict_input(text_run, path)
    assert str(error.value) == (
        f"{path} has feature columns hue, ash, alcohol, label, but the model takes 3: color, shape, size "
        "(missing: color, shape, size)"
    )


# 3. and 4. Labels: surrounding spaces are trimmed; NA, nan... are missing.


def labelled_numbers(labels):
    return "x,y,label\n" + "".join(f"{i}.5,{i % 5},{label}\n" for i, label in enumerate(labels))


def test_labels_are_trimmed_of_surrounding_spaces(tmp_path):
    path = tmp_path / "spaced.csv"
    path.write_text(labelled_numbers([" a", "a ", "a", "A", " b ", "b"] * 5))
    assert load_csv(path=str(path)).class_names == ("A", "a", "b")


def test_evaluate_input_trims_its_labels(tmp_path, capsys):
    path = tmp_path / "train.csv"
    path.write_text(labelled_numbers(["a", "b"] * 15))
    run = train(tmp_path, capsys, {"name": "csv", "path": path})
    new = tmp_path / "new.csv"
    new.write_text(labelled_numbers(["a ", " b"] * 2))
    report = evaluate_input(run, new)
    assert report["samples"] == 4 and report["classes"] == ["a", "b"]


def test_evaluate_input_says_a_label_is_missing(tmp_path, capsys):
    path = tmp_path / "train.csv"
    path.write_text(labelled_numbers(["a", "b"] * 15))
    run = train(tmp_path, capsys, {"name": "csv", "path": path})
    new = tmp_path / "new.csv"
    new.write_text(labelled_numbers(["a", "b", "NA", "b"]))
    with pytest.raises(CorennError) as error:
        evaluate_input(run, new)
    assert str(error.value) == (
        f"the labels of {new}: the label of sample 3 (counting from 1) is missing ('NA'); every sample needs a "
        "label, one of the classes (a, b)"
    )


@pytest.mark.parametrize("token", ["NA", "nan", "N/A", " NULL "])
def test_a_missing_label_token_is_refused_with_its_line(tmp_path, token):
    path = tmp_path / "holes.csv"
    path.write_text(labelled_numbers(["a", "b"] * 3 + [token] + ["a", "b"] * 3))
    for missing in ("error", "mean"):
        with pytest.raises(DataError) as error:
            load_csv(path=str(path), missing=missing)
        assert str(error.value) == (
            f"{path} line 8: the label column 'label' holds {token.strip()!r}, a missing value; every row needs a "
            'label (or set [dataset] missing = "drop" to leave such rows out)'
        )


def test_an_empty_label_keeps_its_message(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text(labelled_numbers(["a", "b", " ", "a", "b", "a"]))
    with pytest.raises(DataError) as error:
        load_csv(path=str(path))
    assert str(error.value) == (
        f"{path} line 4: the label column 'label' is empty; every row needs a label "
        '(or set [dataset] missing = "drop" to leave such rows out)'
    )


def test_missing_label_tokens_are_dropped_with_missing_drop(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text(labelled_numbers(["a", "b", "NA", "nan", "a", "b"] * 5))
    splits = load_csv(path=str(path), missing="drop")
    assert splits.class_names == ("a", "b")
    assert f'{path}: left out 10 of 30 rows with missing values (missing = "drop")' in splits.notes


def test_a_regression_target_na_is_dropped_with_missing_drop(tmp_path):
    path = tmp_path / "values.csv"
    path.write_text(labelled_numbers(["1.5", "NA", "2.5", "nan", "3.0"] * 4))
    splits = load_csv(path=str(path), missing="drop", task="regression")
    kept = np.concatenate([splits.train.y, splits.val.y, splits.test.y])
    assert len(kept) == 12 and np.isfinite(kept).all()
    with pytest.raises(DataError, match=r"values.csv line 3: the label column 'label' holds 'NA', a missing value"):
        load_csv(path=str(path), task="regression")


# 5. and 6. Files that are not UTF-8, or not text.


def test_a_latin1_file_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(("x,region,label\n" + "1,north,a\n2,south,b\n" * 3 + "3,Gen\xe8ve,a\n").encode("latin-1"))
    expected = (
        f"{path} line 8 is not UTF-8 text (it holds the byte 0xE8, as a Latin-1 or Windows-1252 file does): save "
        "the file as UTF-8 (in Excel: CSV UTF-8)"
    )
    with pytest.raises(DataError) as error:
        load_csv(path=str(path))
    assert str(error.value) == expected


def test_a_latin1_value_far_down_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "latin.csv"
    body = "".join(f"{i},north,{'ab'[i % 2]}\n" for i in range(5000))  # past Python's first 8 KiB read
    path.write_bytes(("x,region,label\n" + body + "3,Z\xfcrich,a\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv line 5002 is not UTF-8 text \(it holds the byte 0xFC"):
        load_csv(path=str(path))


def test_a_character_cut_short_at_the_end_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_bytes(b"x,label\n1,a\n2,b\xc3")
    with pytest.raises(DataError, match=r"cut.csv line 3 is not UTF-8 text \(it holds the byte 0xC3"):
        read_table(path)


def test_a_latin1_header_name_is_refused_not_mangled(tmp_path):
    path = tmp_path / "header.csv"
    path.write_bytes("x,r\xe9gion,label\n1,2,a\n2,3,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"header.csv line 1 is not UTF-8 text \(it holds the byte 0xE9"):
        read_table(path)


def test_predict_refuses_a_latin1_input_naming_its_line(tmp_path, text_run):
    path = tmp_path / "new.csv"
    body = "color,shape,size\n" + "red,round,S\n" * 3000
    path.write_bytes((body + "rouge,carr\xe9,S\n").encode("latin-1"))
    with pytest.raises(DataError) as error:
        predict_input(text_run, path)
    assert str(error.value).startswith(f"{path} line 3002 is not UTF-8 text (it holds the byte 0xE9")


def zip_bytes():
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return stream.getvalue()


def compressed(opener):
    return opener(b"x,label\n1,a\n2,b\n")


@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        (zip_bytes, "it starts like a zip archive, as an Excel workbook does: save it as CSV"),
        (
            lambda: compressed(gzip.compress),
            "it starts like a gzip-compressed file: decompress it first, e.g. with gunzip",
        ),
        (
            lambda: compressed(bz2.compress),
            "it starts like a bzip2-compressed file: decompress it first, e.g. with bunzip2",
        ),
        (
            lambda: compressed(lzma.compress),
            "it starts like an xz-compressed file: decompress it first, e.g. with unxz",
        ),
        (lambda: "x,label\n1,a\n2,b\n".encode("utf-16"), "it is UTF-16 text, by its byte-order mark: save it as UTF-8"),
        (
            lambda: "x,label\n1,a\n2,b\n".encode("utf-16-le"),
            "it holds a NUL byte beside every character, as UTF-16 text does: save it as UTF-8",
        ),
        (lambda: bytes(range(256)) * 4, "it holds NUL bytes, as binary files do"),
        (
            lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "it starts like an old Excel workbook (.xls): save it as CSV",
        ),
    ],
)
def test_a_file_that_is_not_csv_text_is_refused_in_one_line(tmp_path, capsys, contents, reason):
    path = tmp_path / "data.csv"
    path.write_bytes(contents())
    code, _, err = run_command(capsys, "train", "--config", _config(tmp_path, path), "--out", tmp_path / "runs")
    assert code == 1
    assert err == f"corenn train: error: {path} is not a text CSV file ({reason})\n"
    assert err.isascii() and err[:-1].isprintable()  # no raw byte reaches the terminal


def test_a_csv_whose_first_name_starts_like_a_signature_is_read(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("BZh9,PK,label\n" + "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(10)))
    assert read_table(path).features == ("BZh9", "PK")


def _config(tmp_path, path):
    config = tmp_path / "run.toml"
    config.write_text(mlp_config("run", {"name": "csv", "path": path}, epochs=2, hidden=8))
    return config


def test_predict_refuses_a_workbook_as_input(tmp_path, text_run):
    path = tmp_path / "new.xlsx"
    path.write_bytes(zip_bytes())
    with pytest.raises(DataError) as error:
        predict_input(text_run, path)
    assert str(error.value) == (
        f"{path} is not a text CSV file (it starts like a zip archive, as an Excel workbook does: save it as CSV)"
    )


def test_a_control_character_in_a_column_name_is_escaped(tmp_path):
    path = tmp_path / "escape.csv"
    path.write_text("x,\x1b[31mred,label\n1,2,a\n2,3,b\n")
    with pytest.raises(DataError) as error:
        load_csv(path=str(path), label="colour")
    assert str(error.value) == f"{path} has no column 'colour' (dataset.label); its columns: x, '\\x1b[31mred', label"


# 7. Hidden sub-folders of a class folder.


def test_images_in_hidden_sub_folders_are_left_out(tmp_path, capsys):
    images = np.zeros((6, 6, 6), dtype=np.uint8)
    root = write_image_folder(tmp_path / "pics", images, ["0", "0", "0", "1", "1", "1"])
    write_image_folder(root / "0" / ".thumbnails", images[:2], ["", ""])
    write_image_folder(root / "1" / "day" / ".cache", images[:2], ["", ""])
    write_image_folder(root / "1" / "day", images[:1], [""])
    classes, files = list_class_folders(root, "image folder")
    assert classes == ["0", "1"]
    assert [str(path.relative_to(root)) for path in files["0"]] == ["0/0000.png", "0/0001.png", "0/0002.png"]
    assert [str(path.relative_to(root)) for path in files["1"]] == [
        "1/0003.png",
        "1/0004.png",
        "1/0005.png",
        "1/day/0000.png",
    ]
    dataset = {"name": "image_folder", "root": root, "grayscale": True}
    config = tmp_path / "pics.toml"
    config.write_text(mlp_config("pics", dataset, epochs=1, hidden=4, flatten=True, batch_size=4))
    assert run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")[0] == 0
    text, count = predict_input(tmp_path / "runs" / "pics", root)
    assert count == 7 and ".thumbnails" not in text and ".cache" not in text


# 8. Pixels scaled to 0..1 given to an image run.


def test_an_npz_of_pixels_within_one_is_warned_of(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 6, 6), dtype=np.uint8)
    root = write_image_folder(tmp_path / "pics", images, ["a", "b"] * 4)
    dataset = {"name": "image_folder", "root": root, "grayscale": True}
    config = tmp_path / "pics.toml"
    config.write_text(mlp_config("pics", dataset, epochs=1, hidden=4, flatten=True, batch_size=4))
    assert run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")[0] == 0
    run = tmp_path / "runs" / "pics"
    scaled = tmp_path / "scaled.npz"
    np.savez(scaled, X=images[:3, :, :, None] / 255.0)
    code, out, err = run_command(capsys, "predict", run, "--input", scaled)
    assert code == 0 and len(out.splitlines()) == 4
    assert err == (
        f"warning: input {scaled}: X holds floats within [0, 1], but the model of {run} was trained on pixel "
        "values 0..255: multiply them by 255, or its predictions are not what it learnt\n"
    )
    for name, X in (("pixels", images[:3, :, :, None].astype(np.float64)), ("black", np.zeros((2, 6, 6, 1)))):
        np.savez(tmp_path / f"{name}.npz", X=X)
        with warnings.catch_warnings():
            warnings.simplefilter("error", InputWarning)
            predict_input(run, tmp_path / f"{name}.npz")
