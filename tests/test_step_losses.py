"""Per-step training losses: kept on the run, saved in checkpoints (exact across resumes), and
written as ``steps.csv`` and ``loss_steps.png``."""

import contextlib
import csv
import json
import math

import numpy as np
import pytest

import corenn
import corenn.nn.losses
from corenn.errors import CorruptFileError
from corenn.files import load_arrays, save_arrays
from corenn.records.plots import moving_average
from corenn.run.config import load_preset
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS = 4
STEPS_PER_EPOCH = 7  # iris: 105 training rows in batches of 16


def iris(**changes):
    """iris-ffnn with a learning rate that changes every 5 steps, so each step's rate shows."""
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = EPOCHS
    data["layers"][0]["n_out"] = 8
    data["dataset"]["batch_size"] = 16
    data["optimizer"]["lr"] = 0.05
    data["scheduler"] = {"name": "exponential", "decay": 0.8, "stage_length": 5, "staircase": True}
    data.update(changes)
    return data


def read_steps(run_dir):
    with open(run_dir / "steps.csv", newline="") as stream:
        return list(csv.DictReader(stream))


class LossesSeen:
    """Wraps the loss to record every value the trainer reads in training mode."""

    def __init__(self, monkeypatch):
        self.values = []
        original = corenn.nn.losses.CrossEntropy.forward

        def recording(loss, Y, Y_hat):
            value = original(loss, Y, Y_hat)
            self.values.append(float(value))
            return value

        monkeypatch.setattr(corenn.nn.losses.CrossEntropy, "forward", recording)


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """One uninterrupted recorded run (with its plots): ``(result, run_dir)``."""
    out = tmp_path_factory.mktemp("whole")
    result = train(iris(), out_dir=out, verbose=False)
    return result, out / "iris-ffnn"


def test_steps_csv_has_one_row_per_update_with_its_epoch(whole_run):
    _, run_dir = whole_run
    rows = read_steps(run_dir)
    assert list(rows[0]) == ["step", "epoch", "loss", "learning_rate"]
    assert [int(row["step"]) for row in rows] == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    assert [int(row["epoch"]) for row in rows] == [
        epoch for epoch in range(1, EPOCHS + 1) for _ in range(STEPS_PER_EPOCH)
    ]


def test_the_step_losses_average_to_each_epochs_training_loss(whole_run):
    """The epoch's train_loss is the mean over samples; the last batch holds 105 - 6 * 16 = 9."""
    _, run_dir = whole_run
    losses = np.array([float(row["loss"]) for row in read_steps(run_dir)]).reshape(EPOCHS, STEPS_PER_EPOCH)
    sizes = np.array([16] * 6 + [9])
    history = json.loads((run_dir / "metrics.json").read_text())
    for epoch_losses, row in zip(losses, history, strict=True):
        assert float(epoch_losses @ sizes / sizes.sum()) == pytest.approx(row["train_loss"], rel=1e-12)
    assert losses[-1].mean() < losses[0].mean()  # it learns


def test_each_step_records_the_learning_rate_its_update_used(whole_run):
    _, run_dir = whole_run
    rates = [float(row["learning_rate"]) for row in read_steps(run_dir)]
    assert rates == pytest.approx([0.05 * 0.8 ** (step // 5) for step in range(EPOCHS * STEPS_PER_EPOCH)], rel=1e-14)
    history = json.loads((run_dir / "metrics.json").read_text())
    assert [row["learning_rate"] for row in history] == rates[STEPS_PER_EPOCH - 1 :: STEPS_PER_EPOCH]


def test_the_checkpoint_holds_the_very_floats_of_steps_csv(whole_run):
    _, run_dir = whole_run
    arrays = load_arrays(run_dir / "checkpoint.npz")
    assert arrays["steps/loss"].dtype == np.float64 and arrays["steps/loss"].shape == (EPOCHS * STEPS_PER_EPOCH,)
    rows = read_steps(run_dir)
    assert [float(row["loss"]) for row in rows] == arrays["steps/loss"].tolist()
    assert [float(row["learning_rate"]) for row in rows] == arrays["steps/learning_rate"].tolist()


def test_the_loss_read_at_each_step_is_the_one_recorded(tmp_path, monkeypatch):
    seen = LossesSeen(monkeypatch)
    train(iris(epochs=1), out_dir=tmp_path, verbose=False)
    # per epoch: 7 training steps, then the validation pass (one batch); then the test pass
    recorded = [float(row["loss"]) for row in read_steps(tmp_path / "iris-ffnn")]
    assert recorded == seen.values[:STEPS_PER_EPOCH]


def test_the_step_plot_is_a_png_beside_the_epoch_plots(whole_run):
    _, run_dir = whole_run
    for name in ("loss_steps.png", "loss.png", "accuracy.png"):
        data = (run_dir / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, name


def test_moving_average_is_the_trailing_mean():
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    assert moving_average(values, 2).tolist() == [1.5, 2.5, 3.5, 7.0]
    assert moving_average(values, 5).tolist() == [4.0]
    assert moving_average(values, 6).tolist() == []


# Resume keeps them exact


@pytest.mark.parametrize("how", ["epoch_end", "inside_epoch"])
def test_a_resumed_run_writes_the_same_steps_as_an_uninterrupted_one(
    tmp_path, interrupt_on_call, whole_run, how, no_plots
):
    _, reference_dir = whole_run
    out = tmp_path / "cut"
    if how == "epoch_end":
        callbacks, interrupting = [InterruptAtEpochEnd(2)], contextlib.nullcontext()
    else:
        call_number = 2 * (STEPS_PER_EPOCH + 1) + 4  # epoch 3, before its 4th step's update
        callbacks, interrupting = [], interrupt_on_call(corenn.nn.losses.CrossEntropy, "forward", call_number)
    with interrupting:
        with pytest.raises(KeyboardInterrupt):
            train(iris(), out_dir=out, verbose=False, callbacks=callbacks)
    saved = load_arrays(out / "iris-ffnn" / "checkpoint.npz")
    expected_steps = 2 * STEPS_PER_EPOCH + (3 if how == "inside_epoch" else 0)
    assert saved["steps/loss"].shape == (expected_steps,)
    assert len(read_steps(out / "iris-ffnn")) == expected_steps
    resume(out / "iris-ffnn", verbose=False)
    assert (out / "iris-ffnn" / "steps.csv").read_text() == (reference_dir / "steps.csv").read_text()


def test_a_checkpoint_from_before_step_losses_resumes_with_unknown_early_steps(tmp_path, no_plots):
    with pytest.raises(KeyboardInterrupt):
        train(iris(), out_dir=tmp_path, verbose=False, callbacks=[InterruptAtEpochEnd(1)])
    run_dir = tmp_path / "iris-ffnn"
    arrays = load_arrays(run_dir / "checkpoint.npz")
    del arrays["steps/loss"], arrays["steps/learning_rate"]
    save_arrays(run_dir / "checkpoint.npz", arrays)
    resume(run_dir, verbose=False)
    rows = read_steps(run_dir)
    assert [int(row["step"]) for row in rows] == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    assert all(math.isnan(float(row["loss"])) for row in rows[:STEPS_PER_EPOCH])
    assert all(math.isfinite(float(row["loss"])) for row in rows[STEPS_PER_EPOCH:])


def test_step_losses_that_do_not_fit_the_checkpoint_are_reported_as_corrupt(tmp_path, no_plots):
    with pytest.raises(KeyboardInterrupt):
        train(iris(), out_dir=tmp_path, verbose=False, callbacks=[InterruptAtEpochEnd(1)])
    run_dir = tmp_path / "iris-ffnn"
    arrays = load_arrays(run_dir / "checkpoint.npz")
    arrays["steps/loss"] = arrays["steps/loss"][:-1]
    save_arrays(run_dir / "checkpoint.npz", arrays)
    with pytest.raises(CorruptFileError, match=r"per-step losses have shape \(6,\), expected \(7,\) floats"):
        resume(run_dir, verbose=False)


class StepRecorder:
    """A callback implementing corenn_step_end."""

    def __init__(self):
        self.calls = []

    @corenn.hookimpl
    def corenn_step_end(self, run, step, metrics):
        self.calls.append((step, dict(metrics), len(run.step_losses)))


def test_step_end_hook_sees_every_update_as_the_records_do(tmp_path):
    recorder = StepRecorder()
    result = train(iris(), out_dir=tmp_path, verbose=False, callbacks=[recorder])
    history = json.loads((tmp_path / result["name"] / "metrics.json").read_text())
    with open(tmp_path / result["name"] / "steps.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [step for step, _, _ in recorder.calls] == [int(row["step"]) for row in rows]
    assert all(step == recorded for step, _, recorded in recorder.calls)  # called once the step is on the run
    assert [metrics["loss"] for _, metrics, _ in recorder.calls] == [float(row["loss"]) for row in rows]
    assert [metrics["learning_rate"] for _, metrics, _ in recorder.calls] == [float(r["learning_rate"]) for r in rows]
    first_epoch = [metrics["accuracy"] for _, metrics, _ in recorder.calls[:STEPS_PER_EPOCH]]
    batch_sizes = [16] * (STEPS_PER_EPOCH - 1) + [105 - 16 * (STEPS_PER_EPOCH - 1)]
    correct = sum(accuracy * size for accuracy, size in zip(first_epoch, batch_sizes, strict=True))
    assert correct / 105 == pytest.approx(history[0]["train_accuracy"])
