"""Issue 22's holes in a user's tables and the numbers out: silent wrong numbers (hole 5), a
quadratic header check (hole 7), bad input called a bug (hole 9), unbounded memory for a small
crafted file (hole 4: an .npz zip bomb, a huge CSV line) and one bad run breaking ``corenn runs``
(hole 8). Each case says what the user saw before; each now gets one line naming the file, the
row or the key, and exit status 1 (or just works)."""

import csv
import io
import json
import math
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import corenn
from corenn.errors import CorruptFileError

from faultkit import TIMEOUT_S, environment
from suite_helpers import run_command

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CONFIG = """\
name = "{name}"
epochs = {epochs}
[dataset]
name = "csv"
path = "{path}"
label = "{label}"
batch_size = 16
[optimizer]
name = "adam"
lr = 0.01
[[layers]]
name = "fully_connected"
n_out = 8
activation = "relu"
[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""


def iris_text():
    import importlib.resources

    return (importlib.resources.files("corenn") / "data" / "iris.csv").read_text(encoding="utf-8")


def train_on(tmp_path, capsys, text, *, name="run", label="species", epochs=2, encoding="utf-8"):
    """``corenn train`` on a CSV of ``text``: ``(exit code, stdout, stderr, run folder)``."""
    path = tmp_path / f"{name}.csv"
    path.write_text(text, encoding=encoding)
    config = tmp_path / f"{name}.toml"
    config.write_text(CONFIG.format(name=name, epochs=epochs, path=path, label=label))
    code, out, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")
    return code, out, err, tmp_path / "runs" / name


def one_line(code, err, *fragments):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """An Iris CSV run, trained once; tests that edit it work on a copy."""
    import shutil

    from corenn.cli import main

    folder = tmp_path_factory.mktemp("iris_run")
    (folder / "iris.csv").write_text(iris_text())
    (folder / "iris.toml").write_text(CONFIG.format(name="iris", epochs=20, path=folder / "iris.csv", label="species"))
    assert main(["train", "--config", str(folder / "iris.toml"), "--out", str(folder / "runs"), "--quiet"]) == 0
    run = folder / "runs" / "iris"

    def copy(tmp_path):
        shutil.copytree(run, tmp_path / "iris")
        return tmp_path / "iris"

    return run, copy


ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


# Hole 5: silent wrong numbers


def test_a_nan_row_to_predict_is_refused_naming_row_and_column(iris_run, tmp_path, capsys):
    """Before: the NaN row printed NaN and the softmax ran again over the whole batch, changing
    every other row's probabilities. Chosen: refuse the input, naming the row and column, before
    anything is predicted."""
    run, _ = iris_run
    np.savez(tmp_path / "rows.npz", X=np.vstack([ROWS, [np.nan, 3.0, 5.2, 2.3]]))
    code, _, err = run_command(capsys, "predict", run, "--input", tmp_path / "rows.npz")
    one_line(code, err, "row 3 (index 2), column 'sepal_length': nan is not a finite number")
    path = tmp_path / "rows.csv"
    path.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,inf,5.2,2.3\n")
    code, _, err = run_command(capsys, "predict", run, "--input", path)
    one_line(code, err, "column 'sepal_width'", "inf")


def test_evaluate_on_nan_inputs_is_refused_not_scored(iris_run, tmp_path, capsys):
    """Before: ``evaluate --input`` on all-NaN inputs reported accuracy 1.0000 (the argmax of
    NaN outputs is class 0, and every label was class 0)."""
    run, _ = iris_run
    np.savez(tmp_path / "nan.npz", X=np.full((6, 4), np.nan), y=np.array(["setosa"] * 6))
    code, _, err = run_command(capsys, "evaluate", run, "--input", tmp_path / "nan.npz")
    one_line(code, err, "row 1 (index 0)", "nan is not a finite number")


def test_a_huge_cell_does_not_zero_its_column(tmp_path, capsys):
    """Before: a cell of 1e308 made the column's standard deviation infinite, so the column was
    standardised to zeros for every row, silently."""
    lines = iris_text().splitlines()
    lines[5] = "1e308" + lines[5][lines[5].index(",") :]
    path = tmp_path / "huge.csv"
    path.write_text("\n".join(lines) + "\n")
    config = tmp_path / "huge.toml"
    config.write_text(CONFIG.format(name="huge", epochs=2, path=path, label="species"))
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs")
    assert code == 0, err
    assert f"warning: {path}: column 'sepal_length' holds 1 value(s) as large as 1e+308, which swamp" in err
    recorded = json.loads((tmp_path / "runs" / "huge" / "preprocessing.json").read_text())["standardize"]
    assert all(math.isfinite(value) for value in recorded["std"] + recorded["mean"])
    model = corenn.load(tmp_path / "runs" / "huge")
    standardised = model.transform(np.array([[5.1, 3.5, 1.4, 0.2], [1e308, 3.5, 1.4, 0.2]]))
    assert standardised[0, 0] != standardised[1, 0] and np.isfinite(standardised).all(), "the column was zeroed"


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda p: p["standardize"]["mean"].__setitem__(0, float("nan")), "standardize.mean holds NaN or infinity"),
        (lambda p: p["standardize"]["std"].__setitem__(0, 0.0), "standardize.std holds zero or negative values"),
        (lambda p: p["standardize"].__setitem__("scale", float("inf")), "standardize.scale must be a positive finite"),
        (lambda p: p["inputs"].__setitem__("kind", "spreadsheet"), "inputs.kind is 'spreadsheet'"),
        (lambda p: p["standardize"].__setitem__("mean", [0.0, 1.0]), "standardize.mean has shape [2]"),
        (lambda p: p.__setitem__("input_shape", [3]), "inputs.features lists 4 columns, but input_shape is [3]"),
        (lambda p: p.__setitem__("classes", ["a", "a", "b"]), "classes must name distinct classes"),
    ],
)
def test_a_tampered_preprocessing_json_is_refused(iris_run, tmp_path, capsys, edit, fragment):
    """Before: a NaN mean or a zero std gave NaN predictions with exit 0; a bad ``kind`` was
    ignored; a mean of the wrong length gave ``unexpected ValueError: operands could not be
    broadcast together``. Now preprocessing.json is checked as it is read."""
    _, copy = iris_run
    run = copy(tmp_path)
    path = run / "preprocessing.json"
    recorded = json.loads(path.read_text())
    edit(recorded)
    path.write_text(json.dumps(recorded))
    np.savez(tmp_path / "rows.npz", X=ROWS)
    for argv in (["predict", run, "--input", tmp_path / "rows.npz"], ["evaluate", run], ["predict", run]):
        code, _, err = run_command(capsys, *argv)
        one_line(code, err, f"{path} is damaged or was edited", fragment)
    with pytest.raises(CorruptFileError, match="damaged or was edited"):
        corenn.load(run)


def test_nan_parameters_are_refused(iris_run, tmp_path, capsys):
    """Before: NaN parameters gave NaN predictions, exit 0."""
    _, copy = iris_run
    run = copy(tmp_path)
    arrays = dict(np.load(run / "parameters.npz"))
    arrays["1.W"] = arrays["1.W"].copy()
    arrays["1.W"][2, 1] = np.nan
    np.savez(run / "parameters.npz", **arrays)
    np.savez(tmp_path / "rows.npz", X=ROWS)
    for argv in (["predict", run, "--input", tmp_path / "rows.npz"], ["evaluate", run]):
        code, _, err = run_command(capsys, *argv)
        one_line(code, err, "parameters.npz: parameter 1.W holds 1 NaN or infinite value(s)")


def test_a_one_class_csv_is_refused(tmp_path, capsys):
    """Before: it trained to accuracy 1.0, silently."""
    code, _, err, run = train_on(
        tmp_path, capsys, "a,b,label\n" + "".join(f"{i},{2 * i},x\n" for i in range(20)), label="label"
    )
    one_line(code, err, "holds one class ('x'); a classifier needs at least two", 'task = "regression"')
    assert not run.exists()


def test_a_stray_quote_pair_is_refused(tmp_path, capsys):
    """Before: a quote opened on line 11 and closed on line 21 swallowed ten rows into one label,
    a new class, silently."""
    lines = iris_text().splitlines()
    lines[10] = lines[10].replace(",setosa", ',"setosa')
    lines[20] += '"'
    code, _, err, _ = train_on(tmp_path, capsys, "\n".join(lines) + "\n")
    one_line(code, err, "line 11, column 'species': a quoted value runs over 11 lines (a stray quote?)")


# Hole 7: the header check


def test_a_header_of_100000_columns_is_read_in_linear_time(tmp_path):
    """Before: ``names.count(name)`` for every name: 40,000 columns took 27 s, 100,000 over 120 s."""
    from corenn.data.csv_table import read_table

    n = 100_000
    path = tmp_path / "wide.csv"
    rows = ",".join("1" for _ in range(n))
    path.write_text(",".join(f"c{i}" for i in range(n)) + ",label\n" + f"{rows},a\n{rows},b\n")
    started = time.perf_counter()
    table = read_table(path, label="label")
    assert len(table.features) == n
    assert time.perf_counter() - started < 40  # about 5 s; a quadratic check takes minutes
    duplicated = tmp_path / "twice.csv"
    duplicated.write_text("a,b,a,label\n1,2,3,x\n")
    with pytest.raises(corenn.CorennError, match="names column\\(s\\) 'a' more than once"):
        read_table(duplicated, label="label")


# Hole 9: bad input called a bug


@pytest.mark.parametrize(
    ("header", "encoding"),
    [
        ("sepal_length,sepal_width,petal_length,petal_width,species", "utf-8-sig"),  # Excel's UTF-8 export
        ("sepal_length, sepal_width, petal_length, petal_width, species", "utf-8"),
        ('"sepal_length","sepal_width","petal_length","petal_width","species"', "utf-8"),
    ],
)
def test_spreadsheet_headers_train(tmp_path, capsys, header, encoding):
    """Before: ``unexpected KeyError: 'Field "\\ufeffsepal_length" does not exist in schema'``
    (and the same for spaces after the commas)."""
    text = header + "\n" + "\n".join(iris_text().splitlines()[1:]) + "\n"
    code, _, err, _ = train_on(tmp_path, capsys, text, encoding=encoding)
    assert code == 0, err


def test_a_quoted_comma_in_the_header(tmp_path, capsys):
    """Before: ``unexpected KeyError: 'Field "sepal" does not exist in schema'``."""
    lines = iris_text().splitlines()
    lines[0] = '"sepal, length",sepal_width,petal_length,petal_width,species'
    code, _, err, run = train_on(tmp_path, capsys, "\n".join(lines) + "\n")
    assert code == 0, err
    assert json.loads((run / "preprocessing.json").read_text())["inputs"]["features"][0] == "sepal, length"


def test_an_unclosed_quote_in_a_large_file(tmp_path, capsys):
    """Before: pyarrow read on past the quote and 36,000 of 300,000 rows vanished, silently; the
    run trained. Now the line of the quote is named."""
    lines = iris_text().splitlines()
    body = lines[1:] * 400
    body[5000] = '"' + body[5000]
    code, _, err, _ = train_on(tmp_path, capsys, lines[0] + "\n" + "\n".join(body) + "\n")
    one_line(code, err, "line 5002", "quote")


def test_a_single_number_and_a_single_sample_to_predict(iris_run, tmp_path, capsys):
    """Before: ``unexpected TypeError: len() of unsized object`` for a 0-d X, ``unexpected
    ValueError: zip() argument 2 is shorter than argument 1`` for one 1-d sample."""
    run, _ = iris_run
    np.savez(tmp_path / "number.npz", X=np.float64(3.0))
    code, _, err = run_command(capsys, "predict", run, "--input", tmp_path / "number.npz")
    one_line(code, err, "X is a single number", "rows of 4 features")
    np.savez(tmp_path / "one.npz", X=ROWS[0])
    code, out, err = run_command(capsys, "predict", run, "--input", tmp_path / "one.npz")
    assert code == 0, err
    assert out.splitlines()[1].startswith("0,setosa,")
    with pytest.raises(corenn.CorennError, match="is a single number"):
        corenn.load(run).predict(np.float64(3.0))


def test_labels_of_the_wrong_length_to_evaluate(iris_run, tmp_path, capsys):
    """Before: ``unexpected IndexError: shape mismatch: indexing arrays could not be broadcast``."""
    run, _ = iris_run
    np.savez(tmp_path / "short.npz", X=np.vstack([ROWS] * 3), y=np.array(["setosa"] * 3))
    code, _, err = run_command(capsys, "evaluate", run, "--input", tmp_path / "short.npz")
    one_line(code, err, "holds 6 samples but 3 labels (y)")


# Hole 4: memory bounded for small crafted files

PEAK = textwrap.dedent("""\
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import corenn.data.npz_arrays
    budget = {budget}
    if budget is not None:  # the memory an .npz may take, as on a machine with that much available
        corenn.data.npz_arrays.memory_budget = lambda: budget
    from corenn.cli import main
    code = main(sys.argv[1:])
    # VmHWM: this process's own peak resident memory (ru_maxrss would count the parent's at fork)
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({{"code": code, "peak_rss_mib": peak_kib / 1024}}))
""")
MEMORY_LIMIT = 3 << 30


def peak_of(*argv, budget=None):
    """``(exit code, stderr, peak resident MiB)`` of ``corenn ARGV`` in a process with a 3 GiB
    address-space limit (and ``budget`` bytes for an .npz's arrays, when given)."""
    completed = subprocess.run(
        [sys.executable, "-c", PEAK.format(limit=MEMORY_LIMIT, budget=budget), *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=environment(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1"),
    )
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    return outcome["code"], completed.stderr, outcome["peak_rss_mib"]


def npz_bomb(path, n_values):
    """An .npz whose member ``X.npy`` declares (and holds) ``n_values`` float64 zeros, deflated:
    about 1/1000 of its expanded size."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n_values,)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("X.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            chunk = bytes(1 << 24)
            remaining = n_values * 8
            while remaining:
                member.write(chunk[: min(remaining, len(chunk))])
                remaining -= min(remaining, len(chunk))
    return path


def test_an_npz_bomb_is_refused_before_it_is_expanded(iris_run, tmp_path, monkeypatch):
    """Before: a 6.4 MB .npz expanding to 11.6 GB was read whole (11.6 GB resident) and ended in
    "out of memory ... make the network or --batch-size smaller" (wrong advice). Now the members'
    declared sizes are checked against the memory available before anything is expanded (here a
    1 GiB bomb against a budget forced to 256 MiB, to keep the test small)."""
    run, _ = iris_run
    bomb = npz_bomb(tmp_path / "bomb.npz", 1 << 27)
    assert bomb.stat().st_size < 2 << 20
    code, err, peak = peak_of("predict", run, "--input", bomb, budget=256 << 20)
    one_line(code, err, "bomb.npz: its arrays would take 1.0 GiB in memory", "more than the 256.0 MiB corenn allows")
    assert peak < 400, f"peak resident memory {peak:.0f} MiB"
    monkeypatch.setattr("corenn.data.npz_arrays.memory_budget", lambda: 2 << 30)
    from corenn.data.npz_arrays import read_npz

    assert read_npz(bomb)["X"].shape == (1 << 27,)  # the same file within the budget is read


def test_an_npz_member_disagreeing_with_its_header_is_refused(tmp_path):
    from corenn.data.npz_arrays import read_npz
    from corenn.errors import DataError

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)})
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(80))
    with pytest.raises(DataError, match=r"array 'X' of shape \(1099511627776,\) .* but its member declares 80;"):
        read_npz(tmp_path / "liar.npz")


def test_a_huge_csv_line_is_refused_in_bounded_memory(tmp_path):
    """Before: a 100 MB line took 1 GB and ended in ``unexpected Error: field larger than field
    limit``. Now lines are read with a bound (4 Mi characters); here a 20 MB line, at line 5."""
    path = tmp_path / "long.csv"
    with open(path, "w") as stream:
        stream.write("a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
        stream.write("7," + "8" * 20_000_000 + ",y\n")
        stream.write("9,10,x\n")
    config = tmp_path / "long.toml"
    config.write_text(CONFIG.format(name="long", epochs=1, path=path, label="label"))
    code, err, peak = peak_of("train", "--config", config, "--out", tmp_path / "runs", "--quiet")
    one_line(code, err, f"{path} line 5 is longer than 4,194,304 characters")
    assert peak < 400, f"peak resident memory {peak:.0f} MiB"


# Hole 8: one bad run


DAMAGE = {
    "result.json is a list": ("result.json", "[1, 2]", "result.json does not hold a JSON object"),
    "result.json is not JSON": ("result.json", "{", "result.json is not valid JSON"),
    "a time that is text": ("result.json", '{"seconds": "soon"}', "result.json's seconds is 'soon', not a number"),
    "an accuracy that is a list": ("result.json", '{"test_accuracy": [1]}', "test_accuracy is '[1]', not a number"),
    "metrics.json is a table": ("metrics.json", '{"epoch": 1}', "metrics.json does not hold a list of epochs"),
    "metrics.json holds numbers": ("metrics.json", "[1, 2]", "metrics.json does not hold a list of epochs"),
    "an epoch that is text": ("metrics.json", '[{"epoch": "one"}]', "row 1 has epoch 'one'"),
    "config.toml is not TOML": ("config.toml", "name = ", "config.toml is not valid TOML"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_one_damaged_run_is_listed_as_such_and_the_rest_normally(iris_run, tmp_path, capsys, damage):
    """Before: ``[1,2]`` in one result.json gave ``unexpected AttributeError`` and listed nothing."""
    import shutil

    run, _ = iris_run
    folder = tmp_path / "runs"
    shutil.copytree(run, folder / "good")
    shutil.copytree(run, folder / "bad")
    name, text, reason = DAMAGE[damage]
    (folder / "bad" / name).write_text(text)
    code, out, err = run_command(capsys, "runs", folder, "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["good"]["status"] == "finished" and rows["good"]["test_accuracy"] is not None
    assert rows["bad"]["status"] == "damaged" and reason in rows["bad"]["reason"], rows["bad"]
    code, table, _ = run_command(capsys, "runs", folder)
    assert code == 0 and any(line.startswith("bad ") and "damaged: " in line for line in table.splitlines())


def test_runs_json_is_valid_json_when_a_run_diverged(iris_run, tmp_path, capsys):
    """Before: a diverged run's NaN loss was printed as ``NaN``, which JSON does not have."""
    import shutil

    run, _ = iris_run
    shutil.copytree(run, tmp_path / "runs" / "nan")
    path = tmp_path / "runs" / "nan" / "metrics.json"
    history = json.loads(path.read_text())
    history[-1]["val_loss"] = float("nan")
    history[-1]["val_accuracy"] = float("inf")
    path.write_text(json.dumps(history))
    code, out, _ = run_command(capsys, "runs", tmp_path / "runs", "--json")

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    (row,) = json.loads(out, parse_constant=refuse)
    assert code == 0 and row["status"] == "finished"


# Hole 12: the probabilities are the network's own


def test_predict_proba_is_the_networks_own_output(iris_run, tmp_path, capsys):
    """A mutation that applied the softmax a second time to the network's probabilities passed
    every test (the predicted class stays, rows still sum to 1). The probabilities from
    ``predict --input``, ``corenn.load(...).predict_proba`` and the split outputs of
    ``predict`` / ``evaluate`` must equal the network's forward pass on the run's own
    standardisation, computed here without corenn's prediction code."""
    from corenn.nn.model import Sequential
    from corenn.run.config import load_config
    from corenn.trained.predict import split_outputs

    run, _ = iris_run
    config = load_config(run / "config.toml")
    recorded = json.loads((run / "preprocessing.json").read_text())
    network = Sequential.from_config(config.layers, n_classes=3)
    network.initialize((4,), "float64")
    network.load_parameters(run / "parameters.npz")
    mean, std = np.asarray(recorded["standardize"]["mean"]), np.asarray(recorded["standardize"]["std"])
    own = network.forward((ROWS - mean) / std)

    np.testing.assert_allclose(corenn.load(run).predict_proba(ROWS), own, rtol=1e-12, atol=1e-15)
    path = tmp_path / "rows.csv"
    path.write_text(",".join(FEATURES) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in ROWS))
    code, out, _ = run_command(capsys, "predict", run, "--input", path)
    table = list(csv.reader(io.StringIO(out)))
    np.testing.assert_allclose([[float(p) for p in row[2:]] for row in table[1:]], own, atol=5e-7)
    iris = np.array([[float(v) for v in line.split(",")[:4]] for line in iris_text().splitlines()[1:]])
    outputs = split_outputs(run, split="test")
    from corenn.data.csv_table import load_csv

    test_rows = load_csv(path=str(run.parent.parent / "iris.csv"), label="species").test.X
    np.testing.assert_allclose(outputs.outputs, network.forward((test_rows - mean) / std), rtol=1e-12, atol=1e-15)
    assert len(iris) == 150


# Fuzzing the readers: whatever the file holds, a CorennError (one line at the command line) or a table


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _fuzzed_csv_text():
    from hypothesis import strategies as st

    cell = st.one_of(
        st.sampled_from(["1", "2.5", "-3e2", "", "NA", "nan", "inf", "x", "yes", '"', '"a,b"', "\ufeff", " 4 "]),
        st.text(alphabet=',"\n\r ab1.-', max_size=6),
    )
    row = st.lists(cell, min_size=1, max_size=5).map(",".join)
    return st.lists(row, min_size=0, max_size=8).map("\n".join)


def test_the_csv_reader_never_fails_unexpectedly(fuzz_folder):
    from hypothesis import HealthCheck, given, settings

    from corenn.data.csv_table import load_csv

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=_fuzzed_csv_text())
    def check(text):
        path = fuzz_folder / "fuzz.csv"
        path.write_text(text, encoding="utf-8")
        for missing in ("error", "mean"):
            try:
                splits = load_csv(path=str(path), val_size=0, test_size=0, missing=missing)
            except corenn.CorennError as exc:
                assert "\n" not in str(exc).strip(), str(exc)  # one line
                continue
            assert np.isfinite(splits.train.X).all() and len(splits.class_names) >= 2

    check()


def test_preprocessing_json_checks_never_fail_unexpectedly(iris_run):
    from hypothesis import HealthCheck, given, settings, strategies as st

    from corenn.records.preprocessing import Preprocessing

    run, _ = iris_run
    recorded = json.loads((run / "preprocessing.json").read_text())
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=True),
        st.text(max_size=4),
        st.lists(st.floats(allow_nan=True), max_size=5),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
    paths = [
        ("standardize", "mean"),
        ("standardize", "std"),
        ("standardize", "scale"),
        ("inputs", "kind"),
        ("inputs", "features"),
        ("input_shape",),
        ("classes",),
        ("inputs",),
        ("standardize",),
        ("task",),
    ]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(where=st.sampled_from(paths), value=values)
    def check(where, value):
        data = json.loads(json.dumps(recorded))
        target = data
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = value
        try:
            Preprocessing.from_dict(data, "preprocessing.json")
        except CorruptFileError:
            pass

    check()


def test_the_npz_reader_never_fails_unexpectedly(fuzz_folder):
    """Bytes of a valid .npz changed at random (header, directory, compressed data)."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    from corenn.data.npz_arrays import read_npz

    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.arange(60.0).reshape(20, 3), y=np.array(["a", "b"] * 10))
    original = buffer.getvalue()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(changes=st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), min_size=1, max_size=4))
    def check(changes):
        data = bytearray(original)
        for position, value in changes:
            data[position] = value
        path = fuzz_folder / "fuzz.npz"
        path.write_bytes(bytes(data))
        try:
            arrays = read_npz(path, budget=64 << 20)
        except corenn.CorennError as exc:
            assert "\n" not in str(exc).strip(), str(exc)
            return
        assert all(isinstance(array, np.ndarray) for array in arrays.values())

    check()


def test_runs_never_fail_on_a_runs_records(iris_run, fuzz_folder):
    """``result.json`` and ``metrics.json`` holding any JSON value: the run is listed (as
    damaged, or as it is), never an exception."""
    import shutil

    from hypothesis import HealthCheck, given, settings, strategies as st

    from corenn.trained.runs import format_runs, json_safe, summarize_run

    run, _ = iris_run
    folder = fuzz_folder / "records"
    if not folder.exists():
        shutil.copytree(run, folder)
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=3))
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "epoch",
                        "seconds",
                        "val_accuracy",
                        "val_loss",
                        "test_accuracy",
                        "stopped_early",
                        "task",
                        "train_r2",
                        "best_epoch",
                        "x",
                    ]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=8,
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(result=values, metrics=values)
    def check(result, metrics):
        (folder / "result.json").write_text(json.dumps(result))
        (folder / "metrics.json").write_text(json.dumps(metrics))
        row = summarize_run(folder)
        assert row["status"] in ("finished", "damaged", "interrupted")
        format_runs([row])
        json.dumps(json_safe(row), allow_nan=False)

    check()
