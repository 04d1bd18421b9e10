"""cosine and one_cycle on the torch backend: the core's schedules, value for value torch's
OneCycleLR and CosineAnnealingLR."""

import pytest
import torch

import corenn


def torch_rates(make_scheduler, total_steps, base_lr):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for step in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if step < total_steps - 1:  # OneCycleLR refuses to step past its total
            scheduler.step()
    return rates


@pytest.mark.parametrize(
    "total_steps, options",
    [
        (100, {}),
        (37, {"pct_start": 0.25}),
        (10, {"pct_start": 0.5, "div_factor": 10.0}),
        (2000, {"pct_start": 0.15, "div_factor": 5.0, "final_div_factor": 100.0}),
    ],
)
def test_one_cycle_is_torchs_one_cycle_lr(total_steps, options):
    ours = corenn.create("scheduler", "one_cycle", "torch", initial_lr=0.4, total_steps=total_steps, **options)
    reference = torch_rates(
        lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=0.4, total_steps=total_steps, **options
        ),
        total_steps,
        0.4,
    )
    assert [ours(step) for step in range(total_steps)] == pytest.approx(reference, rel=1e-12, abs=0)


@pytest.mark.parametrize("total_steps, min_lr", [(50, 0.0), (120, 0.01)])
def test_cosine_without_warmup_is_torchs_cosine_annealing_lr(total_steps, min_lr):
    ours = corenn.create("scheduler", "cosine", "torch", initial_lr=0.1, total_steps=total_steps, min_lr=min_lr)
    reference = torch_rates(
        lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=min_lr),
        total_steps,
        0.1,
    )
    # torch computes the rate recursively from the previous one: equal up to rounding
    assert [ours(step) for step in range(total_steps)] == pytest.approx(reference, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("name", ["cosine", "one_cycle"])
def test_both_backends_give_the_same_rates(name):
    options = {"initial_lr": 0.2, "total_steps": 300}
    numpy_schedule = corenn.create("scheduler", name, "numpy", **options)
    torch_schedule = corenn.create("scheduler", name, "torch", **options)
    assert [torch_schedule(step) for step in range(0, 400, 7)] == [numpy_schedule(step) for step in range(0, 400, 7)]
