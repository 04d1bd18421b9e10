"""The trainer: determinism, metrics, hooks, early stopping, divergence, schedules, dtype, resume."""

import json
import shutil

import numpy as np
import pytest

import corenn
import corenn.nn.losses
import corenn.nn.optimizers
from corenn.errors import CorennError, TrainingDiverged
from corenn.files import load_arrays
from corenn.run.config import load_preset
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd

EPOCH_METRICS = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}


def iris(**changes):
    """The iris-ffnn preset as a mapping: a small hidden layer and few epochs, then ``changes``."""
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = 4
    data["layers"][0]["n_out"] = 16
    for key, value in changes.items():
        data[key] = value
    return data


def copies(arrays):
    return {name: np.array(value, copy=True) for name, value in arrays.items()}


class Capture:
    """A per-run callback that keeps every hook call and the final parameters."""

    def __init__(self):
        self.events = []
        self.parameters_at_epoch = {}
        self.final_parameters = None

    @corenn.hookimpl
    def corenn_train_start(self, run):
        self.events.append(("start", run, run.epoch))

    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.events.append(("epoch_end", run, epoch, dict(metrics)))
        self.parameters_at_epoch[epoch] = copies(run.model.named_parameters())

    @corenn.hookimpl
    def corenn_train_end(self, run, metrics):
        self.events.append(("end", run, dict(metrics)))
        self.final_parameters = copies(run.model.named_parameters())

    @property
    def history(self):
        return [event[3] for event in self.events if event[0] == "epoch_end"]


def run_captured(config, **kwargs):
    capture = Capture()
    kwargs.setdefault("record", False)
    result = train(config, verbose=False, callbacks=[capture], **kwargs)
    return result, capture


def without_seconds(rows):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


def assert_same_parameters(first, second):
    assert list(first) == list(second)
    for name in first:
        assert np.array_equal(first[name], second[name]), f"parameter {name} differs"


def test_same_seed_gives_bit_identical_parameters_and_metrics():
    first, first_capture = run_captured(iris(seed=3))
    second, second_capture = run_captured(iris(seed=3))
    assert_same_parameters(first_capture.final_parameters, second_capture.final_parameters)
    assert without_seconds(first_capture.history) == without_seconds(second_capture.history)
    assert {k: v for k, v in first.items() if k != "seconds"} == {k: v for k, v in second.items() if k != "seconds"}


def test_another_seed_gives_other_weights_and_batch_order():
    _, first = run_captured(iris(seed=3))
    _, other = run_captured(iris(seed=4))
    assert not np.array_equal(first.final_parameters["0.W"], other.final_parameters["0.W"])
    assert first.history[0]["train_loss"] != other.history[0]["train_loss"]


def test_result_and_epoch_metrics_have_the_documented_keys():
    result, capture = run_captured(iris(epochs=2))
    assert set(result) >= {
        "name",
        "backend",
        "epochs",
        "train_loss",
        "val_accuracy",
        "test_accuracy",
        "seconds",
        "run_dir",
    }
    assert result["name"] == "iris-ffnn" and result["backend"] == "numpy" and result["epochs"] == 2
    assert result["run_dir"] is None
    for epoch, metrics in enumerate(capture.history, start=1):
        assert set(metrics) == EPOCH_METRICS
        assert metrics["epoch"] == epoch
        assert 0 <= metrics["train_accuracy"] <= 1 and 0 <= metrics["val_accuracy"] <= 1
        assert metrics["train_loss"] > 0 and metrics["seconds"] >= 0
        assert metrics["learning_rate"] == pytest.approx(0.02)
    assert result["val_accuracy"] == capture.history[-1]["val_accuracy"]
    assert result["test_accuracy"] in {k / 30 for k in range(31)}


def test_hooks_are_called_in_order_with_the_run_and_its_metrics(tmp_path, no_plots):
    result, capture = run_captured(iris(epochs=3), record=True, out_dir=tmp_path)
    kinds = [event[0] for event in capture.events]
    assert kinds == ["start", "epoch_end", "epoch_end", "epoch_end", "end"]
    run = capture.events[0][1]
    assert all(event[1] is run for event in capture.events), "every hook sees the same run object"
    assert capture.events[0][2] == 0
    assert [event[2] for event in capture.events[1:4]] == [1, 2, 3]
    assert run.epochs == 3 and run.epoch == 3 and run.config.name == "iris-ffnn"
    assert run.run_dir == tmp_path / "iris-ffnn"
    assert run.step == 3 * 5, "105 samples in batches of 25: 5 steps per epoch"
    assert without_seconds(run.history) == without_seconds(capture.history)
    end_metrics = capture.events[-1][2]
    assert end_metrics["test_accuracy"] == result["test_accuracy"]
    assert end_metrics["val_accuracy"] == capture.history[-1]["val_accuracy"]
    assert {"test_loss", "test_accuracy"} <= set(end_metrics)


def test_callbacks_are_unregistered_after_the_run():
    _, capture = run_captured(iris(epochs=1))
    calls = len(capture.events)
    train(iris(epochs=1), record=False, verbose=False)
    assert len(capture.events) == calls


class StopAfter:
    def __init__(self, epoch):
        self.epoch = epoch

    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        if epoch >= self.epoch:
            run.stop_requested = True


def test_early_stopping_ends_the_run_after_the_requesting_epoch():
    capture = Capture()
    result = train(iris(epochs=10), record=False, verbose=False, callbacks=[StopAfter(2), capture])
    assert result["epochs"] == 2
    assert len(capture.history) == 2
    assert capture.events[-1][0] == "end" and "test_accuracy" in capture.events[-1][2]


def diverging(**changes):
    """A linear output under the L2 loss with a far too large step: the loss overflows in epoch 2."""
    data = iris(epochs=5, loss="l2", **changes)
    data["layers"][-1]["activation"] = "linear"
    data["optimizer"]["lr"] = 1.0
    return data


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_stops_naming_epoch_and_step_and_keeps_the_last_good_parameters(tmp_path):
    capture = Capture()
    with pytest.raises(TrainingDiverged) as info:
        train(diverging(), out_dir=tmp_path, verbose=False, callbacks=[capture])
    error = info.value
    good_epochs = len(capture.history)
    assert good_epochs >= 1 and error.epoch == good_epochs + 1 and 1 <= error.step <= 5
    message = str(error)
    assert f"at epoch {error.epoch}, step {error.step} of 5" in message and "learning rate 1" in message
    run_dir = tmp_path / "iris-ffnn"
    assert str(run_dir / "parameters.npz") in message and f"end of epoch {good_epochs}" in message
    saved = load_arrays(run_dir / "parameters.npz")
    assert all(np.all(np.isfinite(value)) for value in saved.values())
    assert_same_parameters(saved, capture.parameters_at_epoch[good_epochs])
    assert len(json.loads((run_dir / "metrics.json").read_text())) == good_epochs
    assert (run_dir / "loss.png").is_file()
    assert not (run_dir / "result.json").exists(), "a diverged run has no result"
    assert [event[0] for event in capture.events] == ["start"] + ["epoch_end"] * good_epochs, (
        "no train_end after a failure"
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_without_records_says_so():
    with pytest.raises(TrainingDiverged, match="no run directory was recorded"):
        train(diverging(), record=False, verbose=False)


def test_the_scheduler_learning_rate_reaches_the_optimizer(monkeypatch):
    seen = []
    update = corenn.nn.optimizers.SGD.update

    def recording_update(self, param_name, param, param_grad):
        seen.append(self.lr)
        return update(self, param_name, param, param_grad)

    monkeypatch.setattr(corenn.nn.optimizers.SGD, "update", recording_update)
    scheduler = {"name": "exponential", "decay": 0.5, "stage_length": 3, "staircase": True}
    result, capture = run_captured(iris(epochs=2, scheduler=scheduler))
    per_step = seen[::4]  # four parameters (0.W, 0.b, 1.W, 1.b) per step
    assert seen == [lr for lr in per_step for _ in range(4)]
    assert per_step == [0.02 * 0.5 ** (step // 3) for step in range(10)]
    assert per_step[:4] == [0.02, 0.02, 0.02, 0.01]
    # the metric reports the rate of the epoch's last step
    assert [row["learning_rate"] for row in capture.history] == [0.02 * 0.5 ** (4 // 3), 0.02 * 0.5 ** (9 // 3)]


def test_a_float32_run_keeps_float32_parameters_and_optimizer_state(monkeypatch):
    dtypes = set()
    update = corenn.nn.optimizers.SGD.update

    def checking_update(self, param_name, param, param_grad):
        returned = update(self, param_name, param, param_grad)
        dtypes.update({param_grad.dtype, returned.dtype, self.state["velocity"][param_name].dtype})
        return returned

    monkeypatch.setattr(corenn.nn.optimizers.SGD, "update", checking_update)
    result, capture = run_captured(iris(epochs=3, dtype="float32"))
    assert dtypes == {np.dtype(np.float32)}
    assert {value.dtype for value in capture.final_parameters.values()} == {np.dtype(np.float32)}
    assert result["val_accuracy"] > 0.5


def test_verbose_runs_print_one_plain_line_per_epoch_when_not_a_terminal(capsys):
    train(iris(epochs=3), record=False, verbose=True)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()[-3:]  # after the data and model summaries
    assert [line.split()[:2] for line in lines] == [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    assert lines[0].startswith("epoch 1/3  train_loss ") and "val_acc" in lines[0] and "lr 0.02" in lines[0]


# Resuming: bit-identical to a run that was never interrupted.

RESUME_EPOCHS = 4


def recorded_run(folder, label, **changes):
    capture = Capture()
    result = train(iris(**changes), out_dir=folder / label, verbose=False, callbacks=[capture])
    return result, capture, folder / label / "iris-ffnn"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same run trained in one go; ``(result, run_dir)``."""
    result, _, run_dir = recorded_run(tmp_path_factory.mktemp("uninterrupted"), "whole", epochs=RESUME_EPOCHS)
    return result, run_dir


def assert_same_run(run_dir, reference_dir, result, reference):
    assert_same_parameters(load_arrays(run_dir / "parameters.npz"), load_arrays(reference_dir / "parameters.npz"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((reference_dir / "metrics.json").read_text())
    assert without_seconds(metrics) == without_seconds(expected)
    for key in ("epochs", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        assert result[key] == reference[key], key


def test_resuming_a_finished_run_to_more_epochs_equals_an_uninterrupted_run(tmp_path, uninterrupted, no_plots):
    reference, reference_dir = uninterrupted
    _, _, short_dir = recorded_run(tmp_path, "short", epochs=2)
    continued_dir = tmp_path / "continued"
    shutil.copytree(short_dir, continued_dir)
    capture = Capture()
    result = resume(continued_dir, verbose=False, epochs=RESUME_EPOCHS, callbacks=[capture])
    assert [event[2] for event in capture.events if event[0] == "epoch_end"] == [3, 4]
    assert_same_run(continued_dir, reference_dir, result, reference)
    assert f"epochs = {RESUME_EPOCHS}" in (continued_dir / "config.toml").read_text()
    assert json.loads((continued_dir / "result.json").read_text())["epochs"] == RESUME_EPOCHS
    # the copied-from run is untouched
    assert len(json.loads((short_dir / "metrics.json").read_text())) == 2


def test_interrupt_at_an_epoch_end_then_resume_equals_an_uninterrupted_run(tmp_path, capsys, uninterrupted, no_plots):
    reference, reference_dir = uninterrupted
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(iris(epochs=RESUME_EPOCHS), out_dir=out, verbose=False, callbacks=[InterruptAtEpochEnd(2)])
    run_dir = out / "iris-ffnn"
    assert f"corenn train --resume {run_dir}" in capsys.readouterr().err
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 2
    result = resume(run_dir, verbose=False)
    assert_same_run(run_dir, reference_dir, result, reference)


@pytest.mark.parametrize("call_number", [3, 8, 13])
def test_interrupt_inside_an_epoch_then_resume_equals_an_uninterrupted_run(
    tmp_path, interrupt_on_call, call_number, uninterrupted, no_plots
):
    """Interrupted before a batch's loss (or during validation): the checkpoint holds the
    batch order and running sums of the unfinished epoch."""
    reference, reference_dir = uninterrupted
    out = tmp_path / "interrupted"
    with interrupt_on_call(corenn.nn.losses.CrossEntropy, "forward", call_number):
        with pytest.raises(KeyboardInterrupt):
            train(iris(epochs=RESUME_EPOCHS), out_dir=out, verbose=False)
    result = resume(out / "iris-ffnn", verbose=False)
    assert_same_run(out / "iris-ffnn", reference_dir, result, reference)


def test_interrupt_between_two_parameter_updates_then_resume_equals_an_uninterrupted_run(
    tmp_path, interrupt_on_call, uninterrupted, no_plots
):
    """A half-done update is no state of the run: the resumed run must not build on it."""
    reference, reference_dir = uninterrupted
    out = tmp_path / "interrupted"
    with interrupt_on_call(corenn.nn.optimizers.SGD, "update", 4 * 7 + 2):  # step 8, second parameter
        with pytest.raises(KeyboardInterrupt):
            train(iris(epochs=RESUME_EPOCHS), out_dir=out, verbose=False)
    result = resume(out / "iris-ffnn", verbose=False)
    assert_same_run(out / "iris-ffnn", reference_dir, result, reference)


def test_resume_of_a_folder_that_is_not_a_run_is_an_error(tmp_path):
    with pytest.raises(CorennError, match="is not a corenn run directory"):
        resume(tmp_path, verbose=False)
