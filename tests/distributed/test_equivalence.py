"""Two ranks train what one process trains: the same seed and global batch give the same
parameters (to 1e-10 in float64: sums reordered) on numpy and torch, and with batch norm when it
is synchronised; rank 0 alone writes the records; a run resumes on another world size."""

import json

import pytest
from conftest import corenn, largest_difference, parameters, write_config

TOLERANCE = 1e-10


def train(launches, config, out, name, *extra):
    result = launches.run(
        corenn("train", "--config", str(config), "--out", str(out), "--name", name, "--quiet", "--json", *extra)
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend, batch_norm", [("numpy", False), ("torch", False), ("numpy", True), ("torch", True)])
def test_two_ranks_equal_one(tmp_path, launches, backend, batch_norm):
    config = write_config(tmp_path, "net", backend=backend, batch_norm=batch_norm, sync_batch_norm=batch_norm)
    one = train(launches, config, tmp_path, "one")
    two = train(launches, config, tmp_path, "two", "--nproc", "2")
    assert largest_difference(parameters(tmp_path / "one"), parameters(tmp_path / "two")) < TOLERANCE
    for key in ("train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy", "test_accuracy"):
        assert two[key] == pytest.approx(one[key], abs=TOLERANCE), key
    steps_one = (tmp_path / "one" / "steps.csv").read_text().splitlines()
    steps_two = (tmp_path / "two" / "steps.csv").read_text().splitlines()
    assert len(steps_one) == len(steps_two) > 1


def test_per_rank_batch_norm_differs_from_one_process(tmp_path, launches):
    """Without sync_batch_norm each rank normalises its own share: another computation (as DDP)."""
    config = write_config(tmp_path, "net", batch_norm=True)
    train(launches, config, tmp_path, "one")
    train(launches, config, tmp_path, "two", "--nproc", "2")
    assert largest_difference(parameters(tmp_path / "one"), parameters(tmp_path / "two")) > 1e-6


def test_rank_zero_alone_records(tmp_path, launches):
    config = write_config(tmp_path, "net")
    result = launches.run(
        corenn("train", "--config", str(config), "--out", str(tmp_path / "out"), "--nproc", "2", "--quiet")
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["net"]
    assert result.stdout.count("records:") == 1  # one report, from rank 0


def test_resume_on_another_world_size(tmp_path, launches):
    """Two epochs on two ranks, then two more on one process (and the reverse) end as four on one."""
    config = write_config(tmp_path, "net", epochs=4)
    train(launches, config, tmp_path, "whole")
    short = write_config(tmp_path, "short", epochs=2)
    train(launches, short, tmp_path, "two-then-one", "--nproc", "2")
    result = launches.run(corenn("train", "--resume", str(tmp_path / "two-then-one"), "--epochs", "4", "--quiet"))
    assert result.returncode == 0, result.stderr
    train(launches, short, tmp_path, "one-then-two")
    result = launches.run(
        corenn("train", "--resume", str(tmp_path / "one-then-two"), "--epochs", "4", "--quiet", "--nproc", "2")
    )
    assert result.returncode == 0, result.stderr
    whole = parameters(tmp_path / "whole")
    for name in ("two-then-one", "one-then-two"):
        assert largest_difference(whole, parameters(tmp_path / name)) < TOLERANCE, name


def test_two_ranks_equal_one_in_a_regression(tmp_path, launches):
    """A regression's summed errors (MSE, MAE, R^2) are reduced across the ranks like the loss."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=200)
    rows = "".join(
        ",".join(map(repr, row.tolist())) + f",{float(target)!r}\n" for row, target in zip(X, y, strict=True)
    )
    (tmp_path / "table.csv").write_text("a,b,c,y\n" + rows)
    config = tmp_path / "regression.toml"
    config.write_text(
        f'name = "regression"\nepochs = 3\nloss = "l2"\nbackend = "torch"\n[dataset]\nname = "csv"\n'
        f'path = "{tmp_path / "table.csv"}"\nlabel = "y"\nbatch_size = 16\n[optimizer]\nname = "sgd"\nlr = 0.05\n'
        '[[layers]]\nname = "fully_connected"\nn_out = 8\nactivation = "tanh"\n[[layers]]\nname = "fully_connected"\nn_out = 1\n'
    )
    one = train(launches, config, tmp_path, "one")
    two = train(launches, config, tmp_path, "two", "--nproc", "2")
    assert one["task"] == two["task"] == "regression"
    for key in ("train_loss", "val_loss", "test_loss", "train_mse", "val_mae", "test_r2", "train_r2", "val_r2"):
        assert two[key] == pytest.approx(one[key], rel=1e-9, abs=TOLERANCE), key
