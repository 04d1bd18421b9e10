"""The learning rates a run records are the schedule's own, step by step and epoch by epoch.

Before (issue 22, hole 12): a mutation that made each epoch report its learning rate one step
late passed every test; the only schedule tested across epochs was a staircase, whose stages
hide a shift of one step. Here the schedules are smooth (every step has its own rate), the
epochs' last batches are short (105 training samples, batches of 20: 6 steps an epoch), and a
resumed run must record what an uninterrupted one does.
"""

import csv
import json
import math
from pathlib import Path

import pytest

from corenn.nn.schedulers import Cosine, Exponential
from corenn.run.config import load_preset
from corenn.run.resume import resume
from corenn.run.train import train

EPOCHS = 4
BATCH_SIZE = 20
STEPS_PER_EPOCH = math.ceil(105 / BATCH_SIZE)  # iris-ffnn's training split holds 105 samples
LR = 0.05

SCHEDULES = {
    "exponential": ({"name": "exponential", "decay": 0.5, "stage_length": 7}, Exponential(LR, 0.5, 7)),
    "cosine": (
        {"name": "cosine", "warmup_steps": 3, "min_lr": 0.001},
        Cosine(LR, EPOCHS * STEPS_PER_EPOCH, min_lr=0.001, warmup_steps=3),
    ),
}


def config(scheduler, epochs=EPOCHS):
    data = load_preset("iris-ffnn").to_dict()
    data.update(name="rates", epochs=epochs, scheduler=scheduler)
    data["dataset"]["batch_size"] = BATCH_SIZE
    data["optimizer"] = {"name": "sgd", "lr": LR}
    return data


def recorded(run_dir):
    with open(Path(run_dir) / "steps.csv", newline="") as stream:
        steps = [(int(row["step"]), int(row["epoch"]), float(row["learning_rate"])) for row in csv.DictReader(stream)]
    epochs = [(row["epoch"], row["learning_rate"]) for row in json.loads((Path(run_dir) / "metrics.json").read_text())]
    return steps, epochs


def expected(schedule):
    """Step s (from 1) is update s - 1 of the schedule; an epoch reports its last update's rate."""
    steps = [(s, (s - 1) // STEPS_PER_EPOCH + 1, schedule(s - 1)) for s in range(1, EPOCHS * STEPS_PER_EPOCH + 1)]
    epochs = [(epoch, schedule(epoch * STEPS_PER_EPOCH - 1)) for epoch in range(1, EPOCHS + 1)]
    return steps, epochs


@pytest.mark.parametrize("kind", SCHEDULES)
def test_recorded_rates_are_the_schedules(tmp_path, kind, no_plots):
    table, schedule = SCHEDULES[kind]
    result = train(config(table), out_dir=tmp_path, verbose=False)
    steps, epochs = recorded(result["run_dir"])
    want_steps, want_epochs = expected(schedule)
    assert [(s, e) for s, e, _ in steps] == [(s, e) for s, e, _ in want_steps]
    assert [rate for *_, rate in steps] == pytest.approx([rate for *_, rate in want_steps], rel=1e-15, abs=0)
    assert epochs == [(epoch, pytest.approx(rate, rel=1e-15, abs=0)) for epoch, rate in want_epochs]
    # every epoch's rate differs from the next step's: a report one step late cannot pass
    assert all(rate != schedule(epoch * STEPS_PER_EPOCH) for epoch, rate in want_epochs)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_a_resumed_run_records_the_same_rates(tmp_path, kind, no_plots):
    table, schedule = SCHEDULES[kind]
    first = train(config(table), out_dir=tmp_path / "whole", verbose=False)
    half = train(config(table, epochs=2), out_dir=tmp_path / "halves", verbose=False)
    if kind == "cosine":  # the schedule's length is the run's, fixed when it started: the resume keeps it
        table = {**table, "total_steps": EPOCHS * STEPS_PER_EPOCH}
        half = train(config(table, epochs=2), out_dir=tmp_path / "halves", verbose=False, overwrite=True)
    resume(half["run_dir"], epochs=EPOCHS, verbose=False)
    assert recorded(half["run_dir"]) == recorded(first["run_dir"])
    steps, _ = recorded(half["run_dir"])
    assert [rate for *_, rate in steps] == pytest.approx([rate for *_, rate in expected(schedule)[0]], rel=1e-15)
