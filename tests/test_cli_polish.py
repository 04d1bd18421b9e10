"""The command line's small courtesies (issue 20, item 6): output piped into a reader that stops
reading ends quietly; a mistyped command, flag, config key, option or component name gets the
closest one; "1 epoch"; epoch times with enough digits to read."""

import os
import re
import subprocess
import sys

import pytest

from corenn.cli import main
from corenn.errors import closest_name, did_you_mean
from corenn.run.console import duration
from corenn.run.train import train

from suite_helpers import run_command


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


# Output into a pipe whose reader has gone (`corenn runs | head -1`)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, plots_skipped):
    """A folder of three short runs, for `corenn runs` and `corenn evaluate` to print."""
    folder = tmp_path_factory.mktemp("runs")
    with plots_skipped():
        for seed in range(3):
            train({**IRIS, "epochs": 1, "seed": seed}, out_dir=folder, verbose=False)
    return folder


IRIS = {
    "name": "iris-short",
    "dataset": {"name": "iris", "batch_size": 25},
    "layers": [
        {"name": "fully_connected", "n_out": 8, "activation": "relu"},
        {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
    ],
}


def run_into_a_closed_pipe(*argv, cwd):
    """``corenn *argv`` with its standard output a pipe whose reading end is already closed: the
    first write fails, every time (what ``| head -1`` does once it has its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "corenn", *map(str, argv)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [
        ("runs", "{runs}"),
        ("evaluate", "{runs}/iris-short"),
        ("train", "--epochs", "2", "--out", "{tmp}"),
        ("presets",),
        ("show", "--keys"),
    ],
    ids=["runs", "evaluate", "train", "presets", "show"],
)
def test_a_reader_that_stops_reading_ends_the_command_quietly(trained_runs, tmp_path, argv):
    argv = [word.format(runs=trained_runs, tmp=tmp_path) for word in argv]
    completed = run_into_a_closed_pipe(*argv, cwd=tmp_path)
    assert completed.stderr == ""  # before: "unexpected BrokenPipeError ... (a bug in corenn or a plugin)"
    assert completed.returncode == 141  # 128 + SIGPIPE, as `yes | head -1` leaves yes


def test_a_broken_pipe_that_is_not_the_output_is_still_reported(capsys, monkeypatch):
    """Only a closed standard output is the reader going away; another pipe breaking is a fault."""
    import corenn.cli.presets

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(corenn.cli.presets, "run", broken)
    code, _, err = run_command(capsys, "presets")
    assert code == 1 and "unexpected BrokenPipeError" in err


# Did you mean ...?


@pytest.mark.parametrize(
    ("word", "names", "expected"),
    [
        ("--learning-rate", ["--lr", "--epochs", "--batch-size"], "--lr"),  # initials
        ("--bs", ["--lr", "--epochs", "--batch-size"], "--batch-size"),  # initials, the other way
        ("--batch_size", ["--lr", "--batch-size"], "--batch-size"),  # underscores for dashes
        ("epoch", ["name", "epochs", "seed"], "epochs"),  # a close spelling
        ("fully_conected", ["flatten", "fully_connected"], "fully_connected"),
        ("momentum", ["lr", "beta1"], None),  # nothing close: no guess
    ],
)
def test_the_closest_name(word, names, expected):
    assert closest_name(word, names) == expected
    assert did_you_mean(word, names) == ("" if expected is None else f" (did you mean {expected!r}?)")


def test_a_mistyped_flag_is_named_with_the_closest_flag_of_its_command(capsys):
    code, _, err = run_command(capsys, "train", "--learning-rate", "0.1")
    assert code == 2
    assert err.splitlines()[0].startswith("usage: corenn train")  # the command's usage, not corenn's
    assert err.splitlines()[-1] == (
        "corenn train: error: unrecognized arguments: --learning-rate 0.1; --learning-rate (did you mean --lr?)"
    )


def test_a_mistyped_command_is_named_with_the_closest_command(capsys):
    code, _, err = run_command(capsys, "trian")
    assert code == 2
    assert "corenn: error: unknown command 'trian' (did you mean 'train'?); commands: train, predict" in err


CONFIG = """
name = "typos"
epochs = 1
{top}
[dataset]
name = "iris"
{dataset}
[optimizer]
name = "sgd"
{optimizer}
[[layers]]
name = "{layer}"
n_out = "auto"
activation = "softmax"
"""


@pytest.mark.parametrize(
    ("typo", "message"),
    [
        ({"top": "epoch = 3"}, "unknown config key 'epoch' (did you mean 'epochs'?); allowed keys: name, seed, epochs"),
        (
            {"dataset": "batchsize = 10"},
            "dataset: data set 'iris' has no option 'batchsize' (did you mean 'batch_size'?); "
            "[dataset] takes batch_size, augment, test_augment",
        ),
        (
            {"optimizer": "learning_rate = 0.1"},
            "optimizer: optimizer 'sgd' has no option 'learning_rate' (did you mean 'lr'?); its options are: lr,",
        ),
        (
            {"layer": "fully_conected"},
            "layers[0]: unknown layer 'fully_conected' (did you mean 'fully_connected'?) for backend numpy",
        ),
        (
            {"dataset": "augment = { flips = true }"},
            "unknown key dataset.augment.flips (did you mean 'flip'?); allowed: crop_padding, flip, padding_mode",
        ),
    ],
    ids=["top-level key", "dataset key", "option", "component", "augment key"],
)
def test_a_mistyped_config_key_or_name_is_named_with_the_closest_one(capsys, tmp_path, typo, message):
    fields = {"top": "", "dataset": "", "optimizer": "lr = 0.1", "layer": "fully_connected"} | typo
    path = tmp_path / "typos.toml"
    path.write_text(CONFIG.format(**fields), encoding="utf-8")
    code, _, err = run_command(capsys, "train", "--config", path, "--out", tmp_path)
    assert code == 1 and len(err.splitlines()) == 1
    assert message in err


# "1 epoch", and epoch times that are not all 0.00s


def test_one_epoch_is_singular(capsys, tmp_path, no_plots):
    code, out, _ = run_command(capsys, "train", "--epochs", "1", "--out", tmp_path)
    assert code == 0
    assert re.match(r"iris-ffnn: 1 epoch in \S+, val accuracy", out.splitlines()[-2])  # before: "1 epochs"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0004123, "0.412ms"),
        (0.0006, "0.600ms"),  # an Iris epoch showed "0.6ms"
        (0.012, "12.0ms"),
        (0.004123, "4.12ms"),
        (0.8512, "851ms"),
        (0.9996, "1.00s"),  # not "1.00e+03ms"
        (1.2345, "1.23s"),
        (12.34, "12.3s"),
        (125.4, "2m05s"),
    ],
)
def test_durations_keep_three_digits(seconds, shown):
    assert duration(seconds) == shown


def test_iris_epochs_show_their_time(capsys, tmp_path, no_plots):
    """Every Iris epoch showed 0.00s, though the run took seconds."""
    code, out, _ = run_command(capsys, "train", "--epochs", "5", "--out", tmp_path)
    assert code == 0
    times = [line.split()[-1] for line in out.splitlines() if line.startswith("epoch")]
    assert len(times) == 5
    for shown in times:
        value = float(re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", shown).group(1))
        assert value > 0 and len(re.sub(r"\D", "", shown).lstrip("0")) >= 2, shown


def test_main_still_returns_its_status_in_process():
    """main() flushes standard output itself before returning (so a closed pipe is handled there)."""
    assert main(["presets", "--json"]) == 0
