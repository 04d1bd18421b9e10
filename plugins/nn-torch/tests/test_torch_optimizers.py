"""The optimizers on torch make numpy's updates, and share numpy's checkpoint format."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import CorruptFileError

from torch_agreement import assert_agree

SETTINGS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.5, "clip_norm": 0.5}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}),
    ("adam", {"lr": 0.01, "clip_norm": 0.3}),
]
SHAPES = {"0.W": (5, 3), "0.b": (1, 3), "2.W": (3, 3, 2, 4)}


def starting_parameters(seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


def gradients(step):
    rng = np.random.default_rng(100 + step)
    # some small (under clip_norm), some large: clipping both applies and does not
    return {name: rng.standard_normal(shape) * (0.01 if step % 2 else 3.0) for name, shape in SHAPES.items()}


def run(optimizer, params, steps, convert, lr_for_step=None):
    for step in steps:
        if lr_for_step is not None:
            optimizer.lr = lr_for_step(step)
        for name, grad in gradients(step).items():
            params[name] = optimizer.update(name, params[name], convert(grad))


def label(name, options):
    return f"optimizer {name}" + (" (clip_norm)" if "clip_norm" in options else "")


@pytest.mark.parametrize("name, options", SETTINGS)
def test_updates_agree_with_numpy_step_by_step(name, options):
    numpy_optimizer = corenn.create("optimizer", name, "numpy", **options)
    torch_optimizer = corenn.create("optimizer", name, "torch", **options)
    numpy_params = starting_parameters()
    torch_params = {key: torch.from_numpy(value.copy()) for key, value in numpy_params.items()}
    schedule = corenn.create(
        "scheduler", "exponential", "numpy", initial_lr=numpy_optimizer.lr, decay=0.5, stage_length=3
    )
    for step in range(8):
        run(numpy_optimizer, numpy_params, [step], np.asarray, schedule)
        run(torch_optimizer, torch_params, [step], torch.from_numpy, schedule)
        for key in SHAPES:
            assert_agree(label(name, options), f"step {step} {key}", torch_params[key], numpy_params[key])


@pytest.mark.parametrize("name, options", SETTINGS)
def test_state_dict_is_the_numpy_format(name, options):
    numpy_optimizer = corenn.create("optimizer", name, "numpy", **options)
    torch_optimizer = corenn.create("optimizer", name, "torch", **options)
    numpy_params = starting_parameters()
    torch_params = {key: torch.from_numpy(value.copy()) for key, value in numpy_params.items()}
    run(numpy_optimizer, numpy_params, range(3), np.asarray)
    run(torch_optimizer, torch_params, range(3), torch.from_numpy)
    numpy_state, torch_state = numpy_optimizer.state_dict(), torch_optimizer.state_dict()
    assert list(torch_state) == list(numpy_state)
    for key, value in numpy_state.items():
        assert type(torch_state[key]) is type(value), key
        if isinstance(value, np.ndarray):
            assert torch_state[key].dtype == value.dtype and torch_state[key].shape == value.shape
            assert_agree(label(name, options), f"state {key}", torch_state[key], value)
        else:
            assert torch_state[key] == value


@pytest.mark.parametrize("name, options", SETTINGS)
@pytest.mark.parametrize("direction", ["numpy to torch", "torch to numpy"])
def test_a_checkpoint_of_one_backend_resumes_on_the_other(name, options, direction):
    reference = corenn.create("optimizer", name, "numpy", **options)
    reference_params = starting_parameters()
    run(reference, reference_params, range(6), np.asarray)

    first_backend, second_backend = direction.split(" to ")
    first = corenn.create("optimizer", name, first_backend, **options)
    params = starting_parameters()
    convert = torch.from_numpy if first_backend == "torch" else np.asarray
    if first_backend == "torch":
        params = {key: torch.from_numpy(value) for key, value in params.items()}
    run(first, params, range(3), convert)
    state = first.state_dict()
    saved_params = {key: np.array(value) for key, value in params.items()}

    second = corenn.create("optimizer", name, second_backend, **options)
    second.load_state_dict(state)
    convert = torch.from_numpy if second_backend == "torch" else np.asarray
    params = {
        key: (torch.from_numpy(value) if second_backend == "torch" else value) for key, value in saved_params.items()
    }
    run(second, params, range(3, 6), convert)
    for key in SHAPES:
        assert_agree(label(name, options), f"resumed {direction} {key}", params[key], reference_params[key])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_float32_parameters_and_state_stay_float32(name):
    optimizer = corenn.create("optimizer", name, "torch", lr=0.1)
    param = torch.ones(3, dtype=torch.float32)
    param = optimizer.update("0.W", param, torch.full((3,), 0.5, dtype=torch.float32))
    assert param.dtype == torch.float32
    arrays = [value for value in optimizer.state_dict().values() if isinstance(value, np.ndarray)]
    assert arrays and all(array.dtype == np.float32 for array in arrays)


def test_restored_state_moves_to_the_parameters_dtype():
    optimizer = corenn.create("optimizer", "sgd", "torch", lr=0.1, momentum=0.9)
    optimizer.load_state_dict({"lr": 0.1, "velocity/0.W": np.full(2, 1.0)})
    param = torch.zeros(2, dtype=torch.float32)
    param = optimizer.update("0.W", param, torch.zeros(2, dtype=torch.float32))
    assert param.tolist() == pytest.approx([0.9, 0.9])
    assert optimizer.state["velocity"]["0.W"].dtype == torch.float32


def test_load_state_dict_accepts_tensors_and_rejects_unknown_keys():
    optimizer = corenn.create("optimizer", "adam", "torch")
    optimizer.load_state_dict({"lr": torch.tensor(0.5), "m/0.W": torch.ones(2), "t/0.W": torch.tensor(4)})
    assert optimizer.lr == 0.5 and optimizer.state["t"]["0.W"] == 4
    with pytest.raises(CorruptFileError, match="unknown key 'momentum/0.W'"):
        optimizer.load_state_dict({"momentum/0.W": np.ones(2)})


def test_clipping_leaves_the_layers_gradient_alone():
    optimizer = corenn.create("optimizer", "sgd", "torch", lr=1.0, clip_norm=1.0)
    param, grad = torch.zeros(2, dtype=torch.float64), torch.tensor([3.0, 4.0], dtype=torch.float64)
    param = optimizer.update("0.W", param, grad)
    assert grad.tolist() == [3.0, 4.0]
    assert param.tolist() == pytest.approx([-0.6, -0.8])
