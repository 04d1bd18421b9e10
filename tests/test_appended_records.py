"""Run records whose cost per epoch does not grow (issue 23, item 1).

At an epoch's end a run appends its rows to ``metrics.csv`` and ``steps.csv``; the files that grow
with the run (the checkpoint, ``metrics.json``) are written on a schedule
(:class:`corenn.run.checkpoints.RunRecords`, ``CORENN_CHECKPOINT_SECONDS``), and always at the end.
A torn last row (a kill in the middle of an append) is skipped by the readers and repaired by a
resume. Run folders written before (``tests/old_run_folders``: by corenn at commit 7c587a4, every
record rewritten at every epoch) still list, load, predict, evaluate and resume.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import corenn
import corenn.files
from corenn.errors import ConfigError
from corenn.files import load_arrays
from corenn.records.folder import RunRecorder, read_metric_rows
from corenn.run import checkpoints
from corenn.run.checkpoints import checkpoint_seconds
from corenn.run.config import load_preset, with_overrides
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.trained.runs import read_history, summarize_run

from suite_helpers import run_command

OLD_RUNS = Path(__file__).parent / "old_run_folders"
NEVER = "1e9"  # CORENN_CHECKPOINT_SECONDS: no checkpoint at an epoch's end, only at the start and the end


def iris(epochs, name="iris-ffnn"):
    return with_overrides(load_preset("iris-ffnn"), epochs=epochs, name=name)


def csv_rows(path):
    return Path(path).read_text(encoding="utf-8").splitlines()


def same_arrays(first, second):
    return sorted(first) == sorted(second) and all(np.array_equal(first[name], second[name]) for name in first)


def checkpoint_state(run_dir):
    arrays = load_arrays(Path(run_dir) / "checkpoint.npz")
    return arrays, json.loads(arrays.pop("state").tobytes())


def without_seconds(rows):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


class Writes:
    """Every write of a record, as (file name, bytes), with the epoch ends marked as ("epoch", n)."""

    def __init__(self, monkeypatch):
        self.log = []
        self.file = None
        write_all = corenn.files._write_all
        mkstemp = corenn.files.tempfile.mkstemp
        open_for_append = corenn.files._open_for_append

        def note_temporary(*args, prefix="", **kwargs):
            self.file = prefix[1:].rpartition(".")[0]
            return mkstemp(*args, prefix=prefix, **kwargs)

        def note_appended(path):
            self.file = f"+{Path(path).name}"
            return open_for_append(path)

        def write(fd, data):
            self.log.append((self.file, len(data)))
            write_all(fd, data)

        monkeypatch.setattr(corenn.files.tempfile, "mkstemp", note_temporary)
        monkeypatch.setattr(corenn.files, "_open_for_append", note_appended)
        monkeypatch.setattr(corenn.files, "_write_all", write)

    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.log.append(("epoch", epoch))

    def per_epoch(self):
        """The writes between one epoch's end and the next's: ``{epoch: [(file, bytes), ...]}``."""
        epochs, current = {}, None
        for name, size in self.log:
            if name == "epoch":
                current = size + 1
                epochs[current] = []
            elif current is not None:
                epochs[current].append((name, size))
        return epochs


def test_an_epochs_end_appends_two_rows_whatever_the_epoch(tmp_path, monkeypatch):
    """Before: every epoch's end rewrote metrics.csv, metrics.json and steps.csv whole, and wrote the
    checkpoint (the whole history, every step's loss) and parameters.npz: 1,000 Iris epochs took
    17.9 s. Now an epoch's end between checkpoints writes its metrics row and its steps' rows, and
    nothing else; the bytes are the same at epoch 2 as at epoch 40."""
    monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", NEVER)
    writes = Writes(monkeypatch)
    train(iris(40), out_dir=tmp_path, verbose=False, callbacks=[writes])
    epochs = writes.per_epoch()
    for epoch in range(2, 40):  # the writes after epoch 1's end and before epoch 40's
        names = [name for name, _ in epochs[epoch]]
        assert names == ["+metrics.csv", "+steps.csv"], (epoch, names)
    (_, row_bytes), (_, step_bytes) = epochs[39]
    assert row_bytes < 200, "one row of metrics.csv"
    assert step_bytes < 1.5 * epochs[2][1][1], "five rows of steps.csv, as at epoch 2 (longer step numbers aside)"
    run_dir = tmp_path / "iris-ffnn"
    assert len(csv_rows(run_dir / "metrics.csv")) == 41 and len(csv_rows(run_dir / "steps.csv")) == 1 + 40 * 5
    assert [row["epoch"] for row in json.loads((run_dir / "metrics.json").read_text())] == list(range(1, 41))
    assert checkpoint_state(run_dir)[1]["epoch"] == 40


def test_the_records_equal_those_of_a_checkpoint_at_every_epoch(tmp_path, monkeypatch):
    """The schedule changes when the checkpoint is written, not what the run leaves: the same
    parameters, checkpoint, best.npz and rows (wall times aside) as a run checkpointed every epoch."""
    records = {}
    for seconds in ("0", NEVER):
        monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", seconds)
        train(iris(12, name=f"every-{seconds}"), out_dir=tmp_path, verbose=False)
        run_dir = tmp_path / f"every-{seconds}"
        arrays, state = checkpoint_state(run_dir)
        metrics = [line.rsplit(",", 1)[0] for line in csv_rows(run_dir / "metrics.csv")]  # seconds last
        records[seconds] = (
            load_arrays(run_dir / "parameters.npz"),
            load_arrays(run_dir / "best.npz"),
            arrays,
            without_seconds(state["history"]),
            without_seconds(json.loads((run_dir / "metrics.json").read_text())),
            metrics,
            csv_rows(run_dir / "steps.csv"),
        )
    every, scheduled = records["0"], records[NEVER]
    for index in range(3):
        assert same_arrays(every[index], scheduled[index])
    assert every[3:] == scheduled[3:]


def test_a_checkpoint_is_due_once_the_interval_has_passed(tmp_path, monkeypatch):
    """On a fake clock that moves 2 s at each epoch's end (after its records) and a 5 s interval,
    the checkpoint is written at the start, at the ends of epochs 4 (6 s after the start) and 7
    (6 s after epoch 4's), and once training is over (epoch 8); not twice for epoch 7."""
    clock = {"now": 0.0}

    class Clock:
        @corenn.hookimpl
        def corenn_epoch_end(self, run, epoch, metrics):
            clock["now"] += 2.0

    monkeypatch.setattr(checkpoints.RunRecords, "clock", staticmethod(lambda: clock["now"]))
    written = []
    write_checkpoint = RunRecorder.write_checkpoint

    def note(recorder, arrays):
        written.append(json.loads(arrays["state"].tobytes())["epoch"])
        write_checkpoint(recorder, arrays)

    monkeypatch.setattr(RunRecorder, "write_checkpoint", note)
    monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", "5")
    train(iris(8), out_dir=tmp_path, verbose=False, callbacks=[Clock()])
    assert written == [0, 4, 7, 8]
    written.clear()
    train(iris(7, name="seven"), out_dir=tmp_path, verbose=False, callbacks=[Clock()])
    assert written == [0, 4, 7]


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_checkpoint_interval_that_is_no_number_of_seconds_is_one_line(tmp_path, monkeypatch, capsys, value):
    monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", value)
    with pytest.raises(ConfigError, match="^CORENN_CHECKPOINT_SECONDS must be a number of seconds, 0 or more"):
        checkpoint_seconds()
    code, _, err = run_command(capsys, "train", "--preset", "iris-ffnn", "--epochs", "1", "--out", tmp_path)
    assert code == 1 and err.strip().splitlines() == [
        f"corenn train: error: CORENN_CHECKPOINT_SECONDS must be a number of seconds, 0 or more (0: a checkpoint "
        f"at every epoch's end), got {value!r}"
    ]
    assert not list(tmp_path.iterdir()), "the run must not start"


def test_checkpoint_interval_default_and_zero(monkeypatch):
    monkeypatch.delenv("CORENN_CHECKPOINT_SECONDS", raising=False)
    assert checkpoint_seconds() == checkpoints.DEFAULT_CHECKPOINT_SECONDS
    assert checkpoint_seconds({"CORENN_CHECKPOINT_SECONDS": " 0 "}) == 0.0


def _interrupted_run(tmp_path, monkeypatch, epochs_done, epochs):
    """A run stopped (as by a kill) after ``epochs_done`` epoch ends, its last checkpoint the first one:
    rows appended past the checkpoint, which a resume must drop and train again."""
    monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", NEVER)

    class Kill:
        @corenn.hookimpl
        def corenn_epoch_end(self, run, epoch, metrics):
            if epoch == epochs_done:
                raise SystemExit("killed")  # no handler of corenn's runs: nothing more is written

    with pytest.raises(SystemExit):
        train(iris(epochs), out_dir=tmp_path, verbose=False, callbacks=[Kill()])
    return tmp_path / "iris-ffnn"


def test_a_torn_last_row_is_skipped_by_the_readers_and_repaired_by_a_resume(tmp_path, monkeypatch, capsys):
    """A kill in the middle of an append leaves a row without its newline. ``corenn runs`` lists the
    run as interrupted with its complete rows (the epochs after its last checkpoint included), and
    ``--resume`` rewrites the rows from the checkpoint and ends as the uninterrupted run."""
    run_dir = _interrupted_run(tmp_path / "killed", monkeypatch, epochs_done=5, epochs=8)
    with open(run_dir / "metrics.csv", "a", encoding="utf-8") as stream:
        stream.write("6,0.41,0.8")  # torn
    with open(run_dir / "steps.csv", "a", encoding="utf-8") as stream:
        stream.write("26,6,0.4")
    assert not (run_dir / "metrics.json").exists(), "no checkpoint since the first: no metrics.json yet"
    assert [row["epoch"] for row in read_metric_rows(run_dir)] == [1, 2, 3, 4, 5]
    row = summarize_run(run_dir)
    assert (row["status"], row["epochs"], row["epochs_planned"]) == ("interrupted", 5, 8)
    code, out, _ = run_command(capsys, "runs", run_dir.parent)
    assert code == 0 and "5/8" in out and "interrupted" in out

    monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", "0")
    result = resume(run_dir, verbose=False)
    train(iris(8, name="uninterrupted"), out_dir=tmp_path, verbose=False)
    reference = tmp_path / "uninterrupted"
    assert result["epochs"] == 8
    assert same_arrays(load_arrays(reference / "parameters.npz"), load_arrays(run_dir / "parameters.npz"))
    assert csv_rows(run_dir / "steps.csv") == csv_rows(reference / "steps.csv")
    assert [line.rsplit(",", 1)[0] for line in csv_rows(run_dir / "metrics.csv")] == [
        line.rsplit(",", 1)[0] for line in csv_rows(reference / "metrics.csv")
    ]


def test_a_damaged_metrics_csv_lists_the_run_as_damaged(tmp_path, monkeypatch):
    """The rows of a run still training are read from metrics.csv: one that corenn did not write
    lists the run as damaged, with the line, never as an unexpected error."""
    run_dir = _interrupted_run(tmp_path, monkeypatch, epochs_done=3, epochs=5)
    lines = csv_rows(run_dir / "metrics.csv")
    for damage, reason in (
        ("2,zero,0.5,0.4,0.9,0.02,0.001\n", "metrics.csv line 2's train_loss is 'zero', not a number"),
        ("2,0.5\n", "metrics.csv line 2 has 2 fields where its header has 7"),
        ("2.5,0.5,0.5,0.4,0.9,0.02,0.001\n", "metrics.csv line 2's epoch is '2.5', not a whole number"),
    ):
        (run_dir / "metrics.csv").write_text("\n".join(lines[:1]) + "\n" + damage, encoding="utf-8")
        row = summarize_run(run_dir)
        assert row["status"] == "damaged" and row["reason"] == reason, row
    (run_dir / "metrics.csv").unlink()
    (run_dir / "metrics.csv").mkdir()
    row = summarize_run(run_dir)
    assert row["status"] == "damaged" and "metrics.csv" in row["reason"] and "regular file" in row["reason"], row


@pytest.fixture
def old_runs(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(OLD_RUNS, folder)
    return folder


def test_runs_written_before_list_as_they_did(old_runs, capsys):
    code, out, err = run_command(capsys, "runs", old_runs, "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert (rows["finished"]["status"], rows["finished"]["epochs"]) == ("finished", 4)
    assert (
        rows["finished"]["test_accuracy"]
        == json.loads((old_runs / "finished" / "result.json").read_text())["test_accuracy"]
    )
    assert (rows["interrupted"]["status"], rows["interrupted"]["epochs"]) == ("interrupted", 2)
    assert read_history(old_runs / "finished") == json.loads((old_runs / "finished" / "metrics.json").read_text())
    code, _, err = run_command(
        capsys, "compare", old_runs / "finished", old_runs / "interrupted", "--out", old_runs / "c.png"
    )
    assert code == 0, err


def test_runs_written_before_load_predict_and_evaluate(old_runs, capsys):
    run_dir = old_runs / "finished"
    network = corenn.load(run_dir)
    recorded = load_arrays(run_dir / "parameters.npz")
    assert same_arrays(recorded, {name: np.asarray(value) for name, value in network.model.parameter_arrays().items()})
    code, out, err = run_command(capsys, "evaluate", run_dir, "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == json.loads((run_dir / "result.json").read_text())["test_accuracy"]
    samples = old_runs / "samples.csv"
    samples.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    code, out, err = run_command(capsys, "predict", run_dir, "--input", samples)
    assert code == 0, err
    assert [line.split(",")[1] for line in out.strip().splitlines()[1:]] == ["setosa", "virginica"]


@pytest.mark.parametrize(("name", "epochs"), [("finished", 6), ("interrupted", 4)])
def test_runs_written_before_resume_to_the_run_trained_now(old_runs, tmp_path, monkeypatch, name, epochs):
    """An old run continued (a finished one extended) ends bit for bit as the same config trained
    now without a stop, and its rows are level: one per epoch, one per step."""
    run_dir = old_runs / name
    result = resume(run_dir, verbose=False, epochs=epochs)
    config = with_overrides(load_preset("iris-ffnn"), epochs=epochs, name=name)
    train(config, out_dir=tmp_path / "now", verbose=False)
    reference = tmp_path / "now" / name
    assert result["epochs"] == epochs
    assert same_arrays(load_arrays(reference / "parameters.npz"), load_arrays(run_dir / "parameters.npz"))
    assert same_arrays(load_arrays(reference / "best.npz"), load_arrays(run_dir / "best.npz"))
    assert csv_rows(run_dir / "steps.csv") == csv_rows(reference / "steps.csv")
    assert without_seconds(json.loads((run_dir / "metrics.json").read_text())) == without_seconds(
        json.loads((reference / "metrics.json").read_text())
    )
    assert [row["epoch"] for row in read_metric_rows(run_dir)] == list(range(1, epochs + 1))
    monkeypatch.undo()


def test_the_best_epoch_kept_one_row_at_a_time_is_the_whole_historys(tmp_path):
    """RunRecords (which epoch's parameters go to best.npz) and EarlyStopping keep the best row up
    to date one epoch at a time instead of scanning the whole history at every epoch's end; on any
    history (ties, NaN, infinities, epochs without the metric) they agree with :func:`best_epoch`
    of the whole history, and early stopping stops at the same epoch."""
    from types import SimpleNamespace

    from hypothesis import given, settings, strategies as st

    from corenn.records.folder import BestRow, best_epoch
    from corenn.run.early_stopping import EarlyStopping, epochs_without_improvement

    values = st.sampled_from([None, 0.5, 0.7, 0.9, 1.0, float("nan"), float("inf"), -float("inf")])

    @settings(max_examples=300, deadline=None, database=None)
    @given(scores=st.lists(values, min_size=1, max_size=12), metric=st.sampled_from(["val_accuracy", "val_loss"]))
    def check(scores, metric):
        history = [
            {"epoch": epoch} | ({} if score is None else {metric: score}) for epoch, score in enumerate(scores, 1)
        ]
        records = checkpoints.RunRecords.__new__(checkpoints.RunRecords)
        records.best = BestRow([], metric)
        stopping = EarlyStopping(2, metric)
        run = SimpleNamespace(history=[], stop_requested=False)
        stopping.corenn_train_start(run)
        for epoch, row in enumerate(history, 1):
            run.history.append(row)
            assert records.best.note(row) == (best_epoch(run.history, metric) == epoch)
            stopping.corenn_epoch_end(run, epoch, row)
            waited = epochs_without_improvement(run.history, metric)
            assert run.stop_requested == (waited is not None and waited >= 2)
            if run.stop_requested:
                break

    check()
