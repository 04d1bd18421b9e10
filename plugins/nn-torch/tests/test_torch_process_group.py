"""corenn-torch's process group with one rank, started in this process: gloo on the CPU and, where
torch sees a GPU, NCCL on it (a GPU machine with one GPU can run NCCL only so: two ranks may not
share a GPU). Its collectives leave one rank's values as they are, and the trainer's data-parallel
path over it trains bit for bit what one process trains, and batch norm synchronised over it
computes what batch norm computes. Runs of two ranks are tested in tests/distributed."""

import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import corenn
from corenn.run.config import load_preset, with_overrides
from corenn.run.distributed import Launch

from corenn_torch.distributed import ProcessGroup
from suite_helpers import trainer_for

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")),
]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=DEVICES)
def group(request, monkeypatch):
    """A group of one rank on the parametrised device (``cuda:LOCAL_RANK``, as under torchrun), left
    again after the test."""
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    device = torch.device("cuda", 0) if request.param == "cuda" else torch.device("cpu")
    started = ProcessGroup.start(Launch(), SimpleNamespace(device=device), timeout=60)
    yield started
    started.close()


def test_the_backend_follows_the_device(group):
    import torch.distributed as dist

    assert dist.get_backend() == ("nccl" if group.device.type == "cuda" else "gloo")


def test_one_ranks_collectives_keep_its_values(group):
    tensors = [torch.arange(6.0, device=group.device).reshape(2, 3), torch.full((4,), 0.5, device=group.device)]
    expected = [tensor.clone() for tensor in tensors]
    assert group.all_reduce_sum(tensors, scalars=[3.25, 7]) == [3.25, 7.0]
    for tensor, before in zip(tensors, expected, strict=True):
        assert torch.equal(tensor, before)
    assert group.all_reduce_max(np.array([1.5, -2.0])).tolist() == [1.5, -2.0]
    group.broadcast(tensors)
    assert torch.equal(tensors[0], expected[0])
    if group.device.type == "cpu":  # numpy arrays: reduced in place through torch.from_numpy
        array = np.linspace(0.0, 1.0, 5)
        assert group.all_reduce_sum([array], scalars=[2]) == [2.0]
        assert np.array_equal(array, np.linspace(0.0, 1.0, 5))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_data_parallel_path_over_one_rank_trains_what_one_process_trains(group, backend):
    if backend == "numpy" and group.device.type == "cuda":
        pytest.skip("numpy runs reduce on the CPU")
    device = "cuda" if group.device.type == "cuda" else None
    config = with_overrides(load_preset("iris-ffnn"), epochs=3, backend=backend, device=device)
    single = trainer_for(config)
    single.fit()
    parallel = trainer_for(config)
    parallel.group = group
    parallel.fit()
    assert parallel.run.step == single.run.step > 0
    assert parallel.run.step_losses == single.run.step_losses
    for name, value in single.run.model.named_parameters().items():
        other = parallel.run.model.named_parameters()[name]
        if backend == "torch":
            assert torch.equal(value, other), name
        else:
            assert np.array_equal(value, other), name


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("scale", [True, False])
def test_batch_norm_synchronised_over_one_rank_is_batch_norm(group, backend, scale):
    """A batch-norm layer whose process_group is the group of one rank (what a data-parallel run
    with sync_batch_norm sets) takes its statistics through the group's all-reduce: one rank's
    are its own, so it computes what the layer without a group computes, running statistics
    included."""
    if backend == "numpy" and group.device.type == "cuda":
        pytest.skip("numpy runs reduce on the CPU")

    def on_backend(array):
        return array if backend == "numpy" else torch.as_tensor(array, device=group.device)

    def as_numpy(array):
        return array.cpu().numpy() if torch.is_tensor(array) else array

    rng = np.random.default_rng(0)
    X, G = on_backend(rng.standard_normal((4, 3, 3, 5)) * 2 + 1), on_backend(rng.standard_normal((4, 3, 3, 5)))
    results = []
    for process_group in (None, group):
        layer = corenn.create("layer", "batch_norm", backend, activation="gelu", scale=scale)
        layer.process_group = process_group
        Y = layer.forward(X)
        dX = layer.backward(G)
        results.append([Y, dX, *layer.gradients.values(), *layer.buffers.values()])
    for plain, synced in zip(*results, strict=True):
        np.testing.assert_allclose(as_numpy(synced), as_numpy(plain), rtol=1e-10, atol=1e-12)
