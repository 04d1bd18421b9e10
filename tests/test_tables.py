"""A user's table done properly (issue 20, item 1): columns chosen with ``features`` / ``drop``,
text columns one-hot encoded with categories from the training split (an unknown one at predict
time encoded as none and said), missing values by the ``missing`` policy, all recorded in
``preprocessing.json`` and applied by ``predict``, ``evaluate`` and ``corenn.load``; and the
headers spreadsheets write (a byte-order mark, spaces, quoted names)."""

import csv
import io
import json

import numpy as np
import pytest

import corenn
from corenn.data.columns import TableEncoding, UnknownCategoryWarning
from corenn.data.csv_table import load_csv, read_table
from corenn.errors import DataError

from own_data_files import mlp_config
from suite_helpers import run_command

REGIONS = ("north", "south", "east")


def mixed_table(path, rows=90, holes=()):
    """``x`` (a number), ``region`` (text), ``id`` (a row number) and ``label``; the label follows
    the region, so a network that reads the text column learns it. ``holes``: (row, column) cells
    left empty."""
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "x", "region", "label"])
        for row in range(rows):
            region = REGIONS[row % 3]
            cells = [str(row), f"{rng.normal():.4f}", region, "yes" if region == "north" else "no"]
            for hole_row, column in holes:
                if hole_row == row:
                    cells[column] = ""
            writer.writerow(cells)
    return path


def train(tmp_path, capsys, dataset, name="mixed", epochs=40):
    config = tmp_path / f"{name}.toml"
    config.write_text(mlp_config(name, dataset, epochs=epochs, hidden=8, lr=0.05))
    code, out, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--json")
    return code, out, err


def test_a_text_column_is_one_hot_encoded_and_recorded(tmp_path, capsys, no_plots):
    path = mixed_table(tmp_path / "mixed.csv")
    code, out, err = train(tmp_path, capsys, {"name": "csv", "path": path, "drop": ["id"]})
    assert code == 0, err
    assert "text column(s) one-hot encoded, categories from the training split: 'region' (3)" in err
    assert json.loads(out.strip().splitlines()[-1])["test_accuracy"] == 1.0
    run = tmp_path / "runs" / "mixed"
    inputs = json.loads((run / "preprocessing.json").read_text())["inputs"]
    assert inputs["features"] == ["x", "region"] and inputs["missing"] == "error"
    assert inputs["columns"] == [
        {"name": "x", "kind": "number", "fill": None},
        {"name": "region", "kind": "category", "categories": ["east", "north", "south"]},
    ]
    assert json.loads((run / "preprocessing.json").read_text())["input_shape"] == [4]

    new = tmp_path / "new.csv"  # the dropped column is there too, and left alone; one region is new
    new.write_text("region,x,id\nnorth,0.1,7\nsouth,0.2,8\nwest,0.0,9\n")
    code, out, err = run_command(capsys, "predict", run, "--input", new)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert [row[1] for row in rows[1:3]] == ["yes", "no"]
    assert err.strip().splitlines() == [
        f"warning: input {new}: column 'region' holds 1 value(s) its training split did not ('west'); "
        "they are encoded as none of its 3 categories"
    ]
    model = corenn.load(run)
    with pytest.warns(UnknownCategoryWarning, match="'west'"):
        assert list(model.predict([[0.1, "north"], [0.2, "west"]]))[0] == "yes"
    assert list(model.predict({"x": [0.3], "region": ["north"]})) == ["yes"]
    assert list(model.predict(np.array([0.3, "south"], dtype=object))) == ["no"]  # one row alone
    code, out, err = run_command(capsys, "evaluate", run, "--input", path, "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0


def test_categories_come_from_the_training_split_only(tmp_path):
    path = tmp_path / "rare.csv"
    rows = ["x,colour,label"] + [f"{i},{'red' if i % 2 else 'blue'},{'ab'[i % 2]}" for i in range(40)]
    rows[5] = "4,violet,a"  # one row of its own colour: whichever split it lands in
    path.write_text("\n".join(rows) + "\n")
    splits = load_csv(path=str(path), val_size=0.2, test_size=0.2)
    categories = splits.inputs["columns"][1]["categories"]
    in_training = any(np.isclose(splits.train.X[:, 0], 4).tolist())
    assert ("violet" in categories) == in_training
    assert categories[:2] == ["blue", "red"] or categories == ["blue", "red", "violet"]


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("error", "mixed.csv line 5, column 'x': the value is empty or missing (2 missing in all)"),
        ("mean", None),
        ("drop", None),
    ],
)
def test_missing_values_follow_the_stated_policy(tmp_path, capsys, no_plots, missing, expected):
    path = mixed_table(tmp_path / "mixed.csv", holes=[(3, 1), (10, 1), (20, 2)])
    dataset = {"name": "csv", "path": path, "drop": ["id"], "missing": missing}
    code, out, err = train(tmp_path, capsys, dataset, epochs=5)
    if expected:
        assert code == 1 and expected in err and 'missing = "mean"' in err
        return
    assert code == 0, err
    run = tmp_path / "runs" / "mixed"
    inputs = json.loads((run / "preprocessing.json").read_text())["inputs"]
    if missing == "drop":
        assert f'{path}: left out 3 of 90 rows with missing values (missing = "drop")' in err
        holey = tmp_path / "holey.csv"
        holey.write_text("x,region\n0.5,north\n,south\n")
        code, _, err = run_command(capsys, "predict", run, "--input", holey)
        assert code == 1 and "holey.csv line 3, column 'x'" not in err and "column 'x'" in err
        assert "a row to predict must be whole" in err
        return
    fill = inputs["columns"][0]["fill"]
    assert isinstance(fill, float) and "missing numbers are filled with the training split's mean" in err
    model = corenn.load(run)
    np.testing.assert_allclose(model.predict_proba([[None, "north"]]), model.predict_proba([[fill, "north"]]))
    np.testing.assert_allclose(model.predict_proba([[float("nan"), "north"]]), model.predict_proba([[fill, "north"]]))


def test_a_hole_to_predict_after_missing_error_says_what_can_still_be_done(tmp_path, capsys, no_plots):
    """Not 'set [dataset] missing': the run is trained; its policy no longer changes."""
    path = mixed_table(tmp_path / "mixed.csv")
    code, _, err = train(tmp_path, capsys, {"name": "csv", "path": path, "drop": ["id"]}, epochs=2)
    assert code == 0, err
    holey = tmp_path / "holey.csv"
    holey.write_text("x,region\n0.5,north\n,south\n")
    code, _, err = run_command(capsys, "predict", tmp_path / "runs" / "mixed", "--input", holey)
    assert code == 1 and err.strip().splitlines() == [
        f"corenn predict: error: input {holey} row 2, column 'x': the value is empty or missing (1 missing in all); "
        'the run was trained with missing = "error", so a row to predict must be whole: fill the value in, or '
        'train a run with [dataset] missing = "mean", which fills it with the training mean'
    ]


def test_features_and_drop_choose_columns(tmp_path):
    path = mixed_table(tmp_path / "mixed.csv")
    assert read_table(path, label="label", features=["region", "x"]).features == ("region", "x")
    assert read_table(path, label="label", features=[1]).features == ("x",)
    assert read_table(path, label="label", drop=["id", "region"]).features == ("x",)
    splits = load_csv(path=str(path), label="label", features=["x"])
    assert splits.input_shape == (1,) and splits.inputs == {"kind": "table", "features": ["x"], "label": "label"}
    from corenn.errors import ConfigError

    with pytest.raises(DataError, match=r"has no column 'colour' \(dataset.features\); its columns: id, x, region"):
        load_csv(path=str(path), features=["colour"])
    with pytest.raises(DataError, match="names 'label', the label column"):
        load_csv(path=str(path), drop=["label"])
    with pytest.raises(ConfigError, match="give one of them"):
        load_csv(path=str(path), features=["x"], drop=["id"])
    with pytest.raises(ConfigError, match="dataset.missing must be"):
        load_csv(path=str(path), missing="ignore")


def test_a_text_column_of_too_many_values_is_refused(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("name,x,label\n" + "".join(f"user{i},{i},{'ab'[i % 2]}\n" for i in range(2100)))
    with pytest.raises(DataError, match=r"text column 'name' holds [\d,]+ distinct values.*dataset.drop = \['name'\]"):
        load_csv(path=str(path))


def test_the_encoding_round_trips_and_refuses_a_tampered_record():
    columns = {"x": np.array([1.0, np.nan, 3.0]), "c": np.array(["a", None, "b"], dtype=object)}
    encoding = TableEncoding.fit(columns, {"x": "number", "c": "category"}, "mean")
    X, notes = encoding.encode(columns)
    np.testing.assert_array_equal(X, [[1.0, 1.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 1.0]])
    assert notes == []
    again = TableEncoding.from_dict({"kind": "table"} | encoding.to_dict(), "test")
    assert again == encoding
    from corenn.errors import CorruptFileError

    broken = encoding.to_dict()
    broken["columns"][0]["fill"] = float("nan")
    with pytest.raises(CorruptFileError, match=r"inputs.columns\[0\].fill must be a finite number"):
        TableEncoding.from_dict(broken, "test")


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("bom", "\ufeffa,b,label"),
        ("spaces", "a , b,  label"),
        ("quoted", '"a",b,"label"'),
    ],
)
def test_spreadsheet_headers_just_work(tmp_path, name, header):
    """Before: ``unexpected KeyError: 'Field "\\ufeffa" does not exist in schema'`` (a byte-order
    mark, Excel's UTF-8 export), and the same for names with spaces or quotes."""
    path = tmp_path / f"{name}.csv"
    path.write_text(header + "\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(20)), encoding="utf-8")
    table = read_table(path, label="label")
    assert table.features == ("a", "b") and table.label == "label"
    np.testing.assert_array_equal(table.X[:3], [[0, 0], [1, 1], [2, 2]])


def test_a_header_name_holding_the_delimiter(tmp_path):
    path = tmp_path / "comma.csv"
    path.write_text('"length, cm",width,label\n' + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(20)))
    assert read_table(path, label="label").features == ("length, cm", "width")


@pytest.mark.parametrize(("separator", "shown"), [(";", "';'"), ("\t", "'\\t'")])
def test_a_file_separated_by_another_delimiter_says_which(tmp_path, separator, shown):
    """Once: "has no feature column besides the label column 'column_1'"."""
    path = tmp_path / "semi.csv"
    rows = ["sepal;petal;species".replace(";", separator)]
    rows += [f"{i}{separator}{i % 3}{separator}{'xy'[i % 2]}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as info:
        read_table(path, label="species")
    assert str(info.value) == (
        f"{path} line 1 is one column: it holds no ',' but {shown}; if {shown} separates the file's columns, "
        f"set dataset.delimiter = {shown}"
    )
    assert read_table(path, label="species", delimiter=separator).features == ("sepal", "petal")
