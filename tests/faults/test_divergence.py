"""A learning rate too large: training stops with where and why, and the last good parameters stay on disk."""

import json

import numpy as np
import pytest

from faultkit import load_npz, one_line_error, run_corenn, write_config

# Squared error on a linear output has no ceiling, so a too-large rate overflows to infinity.
# (Cross-entropy floors probabilities at the dtype's tiny, so on softmax outputs its loss
# saturates, at most about 708 in float64, instead of reaching infinity.)
DIVERGING_CONFIG = """\
name = "faults-diverge"
seed = 7
epochs = 12
loss = "l2"

[dataset]
name = "iris"
batch_size = 16

[optimizer]
name = "sgd"
lr = 0.01

[[layers]]
name = "fully_connected"
n_out = 16
activation = "relu"

[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "linear"
"""


@pytest.mark.parametrize(
    ("lr", "epoch", "step", "kept"),
    [("0.8", 2, 7, "end of epoch 1"), ("5", 1, 6, "the initial ones: no epoch completed")],
    ids=["after-one-epoch", "in-the-first-epoch"],
)
def test_a_diverging_learning_rate_stops_with_epoch_step_and_the_last_good_parameters(tmp_path, lr, epoch, step, kept):
    """WHAT THE USER SEES (exit 1, one line, no numpy overflow warnings):

    corenn train: error: the loss became inf at epoch 2, step 7 of 7 (learning rate 0.8); training stopped; the last good parameters (end of epoch 1) are in RUN_DIR/parameters.npz; try a smaller learning rate"""
    config = write_config(tmp_path, DIVERGING_CONFIG)
    run_dir = tmp_path / "out" / "faults-diverge"
    line = one_line_error(run_corenn("train", "--config", config, "--out", tmp_path / "out", "--lr", lr))
    assert line == (
        f"corenn train: error: the loss became inf at epoch {epoch}, step {step} of 7 (learning rate {lr}); "
        f"training stopped; the last good parameters ({kept}) are in {run_dir / 'parameters.npz'}; "
        "try a smaller learning rate"
    )
    parameters = load_npz(run_dir / "parameters.npz")
    checkpoint = load_npz(run_dir / "checkpoint.npz")
    for name, value in parameters.items():
        assert np.all(np.isfinite(value)), name
        assert np.array_equal(value, checkpoint[f"param/{name}"]), "parameters.npz and the checkpoint disagree"
    rows = json.loads((run_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in rows] == list(range(1, epoch))
    assert not (run_dir / "result.json").exists(), "a diverged run is not a finished run"


def test_resuming_a_diverged_run_diverges_again_at_the_same_place(tmp_path):
    """The checkpoint is the last good state, so ``--resume`` repeats the same divergence at the
    same epoch and step: the run is deterministic, and the message says what to change."""
    config = write_config(tmp_path, DIVERGING_CONFIG)
    run_dir = tmp_path / "out" / "faults-diverge"
    first = one_line_error(run_corenn("train", "--config", config, "--out", tmp_path / "out", "--lr", "0.8"))
    again = one_line_error(run_corenn("train", "--resume", run_dir))
    assert first == again


SATURATING_CONFIG = DIVERGING_CONFIG.replace('loss = "l2"\n', "").replace(
    'n_out = "auto"\nactivation = "linear"', 'n_out = "auto"\nactivation = "softmax"'
)


@pytest.mark.parametrize(
    ("dtype", "loss", "ceiling", "epoch", "step", "kept"),
    [
        ("float64", "398.5", "708.4", 1, 3, "the initial ones: no epoch completed"),
        ("float32", "58.2", "87.3", 2, 7, "end of epoch 1"),
    ],
)
def test_a_cross_entropy_stuck_at_its_ceiling_is_divergence_too(tmp_path, dtype, loss, ceiling, epoch, step, kept):
    """Softmax + cross-entropy never reaches infinity (probabilities are floored at the dtype's
    tiny), so a diverged network's loss saturates near -log(tiny) instead. That is reported like
    an infinite loss, not as a run that finishes. WHAT THE USER SEES (exit 1, one line):

        corenn train: error: the loss reached 398.5 at epoch 1, step 3 of 7 (learning rate 20), over half the 708.4 a float64 cross-entropy reaches when the true classes get probability 0: the network has diverged; training stopped; the last good parameters (the initial ones: no epoch completed) are in RUN_DIR/parameters.npz; try a smaller learning rate"""
    assert 'activation = "softmax"' in SATURATING_CONFIG and "l2" not in SATURATING_CONFIG
    config = write_config(tmp_path, SATURATING_CONFIG)
    run_dir = tmp_path / "out" / "faults-diverge"
    line = one_line_error(
        run_corenn("train", "--config", config, "--out", tmp_path / "out", "--lr", "20", "--dtype", dtype)
    )
    assert line == (
        f"corenn train: error: the loss reached {loss} at epoch {epoch}, step {step} of 7 (learning rate 20), "
        f"over half the {ceiling} a {dtype} cross-entropy reaches when the true classes get probability 0: "
        f"the network has diverged; training stopped; the last good parameters ({kept}) are in "
        f"{run_dir / 'parameters.npz'}; try a smaller learning rate"
    )
    assert not (run_dir / "result.json").exists(), "a diverged run is not a finished run"
    for name, value in load_npz(run_dir / "parameters.npz").items():
        assert np.all(np.isfinite(value)), name


def test_a_well_behaved_cross_entropy_run_is_not_mistaken_for_divergence(tmp_path):
    config = write_config(tmp_path, SATURATING_CONFIG)
    result = run_corenn("train", "--config", config, "--out", tmp_path / "out", "--lr", "0.05")
    assert result.returncode == 0, result.stderr
