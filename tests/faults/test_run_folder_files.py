"""Files corenn reads from a config path or a run folder, and files it writes with ``--out``:
read only when regular and of bounded size, never hanging on a FIFO nor reading a device until
the memory runs out; and ``--out`` never replacing a run's records.

Before (issue 22, holes 4 and 6): ``--config /dev/zero`` read until memory ran out; a FIFO in
a run folder hung the reader; ``corenn predict RUN --input a.csv --out RUN/parameters.npz``
exited 0 with the run's parameters replaced by a CSV; ``corenn compare RUN --out
RUN/config.toml`` made the run unusable. Every command runs in a child process with its
address space limited to 3 GB and a time limit, so that a regression fails the test instead
of filling the machine's memory or hanging the suite.
"""

import os
import resource
import shutil
import subprocess

import pytest

from corenn.errors import CorruptFileError
from corenn.records.folder import RunRecorder

from faultkit import RUN_NAME, corenn_command, environment

ADDRESS_SPACE_LIMIT = 3 * 2**30


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def corenn_bounded(*args, timeout=60):
    return subprocess.run(
        [*corenn_command(), *map(str, args)],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def one_line(completed):
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 1 and len(lines) == 1, completed.stderr
    assert "unexpected" not in lines[0] and "out of memory" not in lines[0]
    return lines[0]


@pytest.fixture
def run_copy(reference, tmp_path):
    """A copy of the reference run, for a test to damage."""
    copy = tmp_path / RUN_NAME
    shutil.copytree(reference.run_dir, copy)
    return copy


@pytest.mark.parametrize(
    ("kind", "what"),
    [("device", "a character device"), ("fifo", "a FIFO (named pipe)"), ("folder", "a folder")],
)
def test_a_config_path_that_is_no_regular_file(tmp_path, kind, what):
    path = tmp_path / "config.toml"
    if kind == "device":
        path = "/dev/zero"
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    line = one_line(corenn_bounded("train", "--config", path, "--out", tmp_path / "out"))
    assert line == f"corenn train: error: config file {path} is {what}; corenn reads only regular files"


def test_a_config_file_too_large_to_be_a_config(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text("# padding\n" * 1_700_000, encoding="utf-8")  # 17 MB of comments
    line = one_line(corenn_bounded("train", "--config", path, "--out", tmp_path / "out"))
    assert line == (
        f"corenn train: error: config file {path} is larger than 16 MiB; corenn reads at most that much of such a file"
    )


@pytest.mark.parametrize("name", ["metrics.json", "result.json"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_run_records_that_are_no_regular_files_read_as_missing(run_copy, name, kind):
    """The recorder's readers (resume reads the metrics, a sweep reads the result) return what
    they return for a missing record, at once; the reason is there for a listing to show."""
    from corenn.files import read_json_record

    target = run_copy / name
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    recorder = RunRecorder(run_copy)
    assert (recorder.read_metrics() if name == "metrics.json" else recorder.read_result()) in ([], None)
    with pytest.raises(CorruptFileError, match="corenn reads only regular files"):
        read_json_record(target)


def test_bounded_readers_refuse_what_is_too_large_or_not_text(tmp_path):
    from corenn.files import read_bounded_text, read_json_record

    path = tmp_path / "result.json"
    path.write_text('{"padding": "' + "x" * 200 + '"}', encoding="utf-8")
    with pytest.raises(CorruptFileError, match=r"is larger than 100 bytes"):
        read_json_record(path, limit=100)
    assert read_json_record(path)["padding"] == "x" * 200
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(CorruptFileError, match=r"cannot read file .*: it is not UTF-8 text \(byte 0"):
        read_bounded_text(path, 100)
    path.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(CorruptFileError, match="nests arrays or objects too deep|is not valid JSON"):
        read_json_record(path)
    with pytest.raises(FileNotFoundError):
        read_json_record(tmp_path / "missing.json")


def test_predict_out_never_replaces_the_runs_parameters(run_copy, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n", encoding="utf-8")
    before = {path.name: path.read_bytes() for path in run_copy.iterdir() if path.is_file()}
    for target in ("parameters.npz", "result.json", "preprocessing.json", "metrics.csv", "loss.png", ".hidden.csv"):
        line = one_line(corenn_bounded("predict", run_copy, "--input", rows, "--out", run_copy / target))
        assert line.startswith(f"corenn predict: error: --out {run_copy / target} would replace or add to the records")
    line = one_line(corenn_bounded("predict", run_copy, "--out", run_copy / "checkpoint.npz"))
    assert "would replace or add to the records" in line
    assert {path.name: path.read_bytes() for path in run_copy.iterdir() if path.is_file()} == before
    allowed = corenn_bounded("predict", run_copy, "--input", rows, "--out", run_copy / "predictions-new.csv")
    assert allowed.returncode == 0, allowed.stderr
    assert (run_copy / "predictions-new.csv").read_text(encoding="utf-8").splitlines()[1].startswith("1,setosa")


def test_compare_out_never_replaces_the_runs_config(run_copy, tmp_path):
    config = (run_copy / "config.toml").read_bytes()
    line = one_line(corenn_bounded("compare", run_copy, "--out", run_copy / "config.toml"))
    assert line.startswith(
        f"corenn compare: error: --out {run_copy / 'config.toml'} would replace or add to the records"
    )
    (run_copy / "tensorboard").mkdir()
    line = one_line(corenn_bounded("compare", run_copy, "--out", run_copy / "tensorboard" / "curves.png"))
    assert f"(inside {run_copy / 'tensorboard'})" in line
    via_dots = run_copy / "tensorboard" / ".." / "config.toml"
    assert "would replace or add to the records" in one_line(corenn_bounded("compare", run_copy, "--out", via_dots))
    assert (run_copy / "config.toml").read_bytes() == config
    allowed = corenn_bounded("compare", run_copy, "--out", run_copy / "curves.png")
    assert allowed.returncode == 0, allowed.stderr
    assert (run_copy / "curves.png").read_bytes()[:4] == b"\x89PNG"
