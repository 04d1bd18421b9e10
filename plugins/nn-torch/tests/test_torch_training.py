"""Training on the torch backend: the same configs as numpy, the same numbers in float64, records
in numpy format, resume, augmentation on tensors, devices, and predictions."""

import json

import numpy as np
import pytest
import torch

import corenn
from corenn.data.loader import augment_batch
from corenn.errors import ConfigError
from corenn.files import load_arrays
from corenn.nn.model import Sequential
from corenn.numpy_backend import NumpyBackend
from corenn.run.build import build
from corenn.run.config import config_from_dict, load_preset, with_overrides
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd
from corenn.trained.predict import predict_labels

from corenn_torch.backend import TorchBackend

pytestmark = pytest.mark.usefixtures("no_plots")  # no test here looks at a run's plots


def iris(backend, **changes):
    data = load_preset("iris-ffnn").to_dict() | {"backend": backend}
    data.update(changes)
    return data


class Keep:
    """Keeps the trained model and every epoch's metrics."""

    def __init__(self):
        self.history = []

    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.history.append({key: value for key, value in metrics.items() if key != "seconds"})

    @corenn.hookimpl
    def corenn_train_end(self, run, metrics):
        self.model = run.model


def trained(config):
    keep = Keep()
    result = train(config, record=False, verbose=False, callbacks=[keep])
    return result, keep


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-300))


def test_iris_on_torch_reaches_the_numpy_accuracy_range():
    result, keep = trained(iris("torch"))
    assert result["backend"] == "torch"
    assert result["test_accuracy"] >= 0.9 and result["val_accuracy"] >= 0.9
    assert all(torch.is_tensor(value) for value in keep.model.named_parameters().values())


def test_float64_training_matches_numpy_step_for_step():
    numpy_result, numpy_keep = trained(iris("numpy", epochs=5))
    torch_result, torch_keep = trained(iris("torch", epochs=5))
    for numpy_row, torch_row in zip(numpy_keep.history, torch_keep.history, strict=True):
        for key, value in numpy_row.items():
            assert torch_row[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
    numpy_parameters = numpy_keep.model.named_parameters()
    for name, value in torch_keep.model.named_parameters().items():
        assert relative_error(value.numpy(), numpy_parameters[name]) <= 1e-10, name
    assert torch_result["test_accuracy"] == numpy_result["test_accuracy"]


def test_float32_torch_training_keeps_float32_and_learns():
    result, keep = trained(iris("torch", dtype="float32", epochs=60))
    assert {value.dtype for value in keep.model.named_parameters().values()} == {torch.float32}
    assert result["test_accuracy"] >= 0.9


def test_a_torch_runs_records_are_numpy_files_that_load_into_a_numpy_model(tmp_path):
    result = train(iris("torch", epochs=5), out_dir=tmp_path, verbose=False)
    saved = load_arrays(f"{result['run_dir']}/parameters.npz")
    assert all(isinstance(value, np.ndarray) for value in saved.values())
    numpy_config = config_from_dict(iris("numpy"))
    data, model, *_ = build(numpy_config)
    model.load_parameters(f"{result['run_dir']}/parameters.npz")
    assert np.mean(model.predict(data.test.X) == data.test.labels) == pytest.approx(result["test_accuracy"])


def test_an_interrupted_torch_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole = train(iris("torch", epochs=6), out_dir=tmp_path / "whole", verbose=False)
    with pytest.raises(KeyboardInterrupt):
        train(iris("torch", epochs=6), out_dir=tmp_path / "cut", verbose=False, callbacks=[InterruptAtEpochEnd(3)])
    resumed = resume(tmp_path / "cut" / "iris-ffnn", verbose=False)
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy"):
        assert resumed[key] == pytest.approx(whole[key], rel=1e-12), key
    first = load_arrays(tmp_path / "whole" / "iris-ffnn" / "parameters.npz")
    second = load_arrays(tmp_path / "cut" / "iris-ffnn" / "parameters.npz")
    for name in first:
        assert relative_error(first[name], second[name]) <= 1e-12, name


@pytest.mark.parametrize(("first", "second"), [("numpy", "torch"), ("torch", "numpy")])
def test_a_run_resumes_on_the_other_backend(tmp_path, first, second):
    """The records are plain arrays, so ``corenn train --resume RUN --backend OTHER`` goes on
    where the run stopped and ends as the whole run on the first backend does (float64: to the
    backends' agreement), and the recorded config names the backend it now trains on."""
    whole = train(iris(first, epochs=4), out_dir=tmp_path / "whole", verbose=False)
    cut = train(iris(first, epochs=2), out_dir=tmp_path / "cut", verbose=False)
    resumed = resume(cut["run_dir"], verbose=False, epochs=4, backend=second)
    assert resumed["backend"] == second and resumed["epochs"] == 4
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy"):
        assert resumed[key] == pytest.approx(whole[key], rel=1e-9), key
    first_parameters = load_arrays(f"{whole['run_dir']}/parameters.npz")
    second_parameters = load_arrays(f"{cut['run_dir']}/parameters.npz")
    for name in first_parameters:
        assert relative_error(first_parameters[name], second_parameters[name]) <= 1e-9, name
    assert f'backend = "{second}"' in open(f"{cut['run_dir']}/config.toml").read()


def test_resume_still_refuses_other_config_changes(tmp_path):
    run_dir = train(iris("numpy", epochs=2), out_dir=tmp_path, verbose=False)["run_dir"]
    text = open(f"{run_dir}/config.toml").read().replace("seed = 0", "seed = 1")
    open(f"{run_dir}/config.toml", "w").write(text)
    with pytest.raises(
        ConfigError,
        match=r"changed: seed\); a resumed run keeps its config, only --epochs, --backend, --device and --kernels may change",
    ):
        resume(run_dir, verbose=False, epochs=3, backend="torch")


def test_augmentation_on_tensors_equals_augmentation_on_arrays():
    X = np.random.default_rng(0).normal(size=(8, 6, 5, 3))
    on_numpy = augment_batch(X, np.random.default_rng(3), NumpyBackend(), crop_padding=2, flip=True)
    on_torch = augment_batch(
        torch.from_numpy(X), np.random.default_rng(3), TorchBackend("cpu"), crop_padding=2, flip=True
    )
    assert torch.is_tensor(on_torch) and np.array_equal(on_torch.numpy(), on_numpy)


def test_a_torch_split_lives_on_the_device_with_int64_labels():
    data = build(config_from_dict(iris("torch")))[0]
    split = TorchBackend("cpu").split(data.train)
    assert (
        split.X.dtype == torch.float64 and split.Y.shape == (len(data.train), 3) and split.labels.dtype == torch.int64
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_config_error_that_suggests_the_cpu():
    with pytest.raises(
        ConfigError, match=r"device 'cuda': no CUDA device is available to torch here; use --device cpu"
    ):
        train(iris("torch", device="cuda"), record=False, verbose=False)


def test_auto_picks_cuda_when_there_is_one_else_the_cpu():
    assert TorchBackend().resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert TorchBackend().resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_matches_the_cpu():
    cpu, _ = trained(iris("torch", epochs=5))
    cuda, keep = trained(iris("torch", epochs=5, device="cuda"))
    assert next(iter(keep.model.named_parameters().values())).device.type == "cuda"
    assert cuda["test_loss"] == pytest.approx(cpu["test_loss"], rel=1e-9)


def test_available_memory_is_the_hosts_on_the_cpu():
    """The trainer's memory check (corenn.run.resources) asks the array backend: on the CPU the
    torch backend reports the host's available memory, as numpy's does."""
    host = NumpyBackend().available_memory()
    if host is None:
        pytest.skip("this system does not say how much memory is available")
    torch_cpu = TorchBackend("cpu").available_memory()
    assert abs(torch_cpu - host) < 0.25 * host


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_available_memory_on_cuda_is_the_gpus_and_grows_back_when_a_tensor_is_freed():
    arrays = TorchBackend("cuda")
    total = torch.cuda.get_device_properties(0).total_memory
    before = arrays.available_memory()
    assert 0 < before <= total
    held = torch.empty(2**28, dtype=torch.uint8, device="cuda")  # 256 MiB
    assert arrays.available_memory() <= before - 2**28 + 2**24
    del held  # back in torch's cache, which counts as available
    assert arrays.available_memory() >= before - 2**24


def test_a_torch_run_too_wide_for_the_memory_is_refused_before_training(monkeypatch, tmp_path):
    """The same one line as on numpy (tests/faults/test_too_big_for_the_machine.py), with the
    memory the torch backend reports: 2**20 hidden units at batch 25 need 0.97 GiB."""
    monkeypatch.setattr(TorchBackend, "available_memory", lambda self: 300 * 2**20)
    config = iris("torch", epochs=1)
    config["layers"][0]["n_out"] = 2**20
    with pytest.raises(
        ConfigError, match=r"^training needs about 0\.97 GiB of memory on cpu at batch size 25 .* but 0\.29 GiB"
    ):
        train(config, out_dir=tmp_path, verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_predict_of_a_torch_run_equals_the_numpy_rebuild(tmp_path):
    result = train(iris("torch", epochs=10), out_dir=tmp_path, verbose=False)
    labels = predict_labels(result["run_dir"])
    data, model, *_ = build(config_from_dict(iris("numpy")))
    model.load_parameters(f"{result['run_dir']}/parameters.npz")
    assert np.array_equal(labels, model.predict(data.test.X))


def registered(kind, name, backend="torch"):
    return name in corenn.plugins.get_plugins().registry.names(kind, backend)


@pytest.mark.skipif(
    not (registered("layer", "batch_norm") and registered("layer", "dropout")),
    reason="needs batch_norm and dropout on torch",
)
def test_batch_norm_and_dropout_train_the_same_on_both_backends(tmp_path):
    """Modes and buffers on tensors: the running statistics are saved, and both backends agree."""
    layers = [
        {"name": "fully_connected", "n_out": 16},
        {"name": "batch_norm", "activation": "relu"},
        {"name": "dropout", "rate": 0.2},
        {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
    ]
    runs = {
        backend: train(iris(backend, epochs=4, layers=layers, name=backend), out_dir=tmp_path, verbose=False)
        for backend in ("numpy", "torch")
    }
    numpy_saved = load_arrays(f"{runs['numpy']['run_dir']}/parameters.npz")
    torch_saved = load_arrays(f"{runs['torch']['run_dir']}/parameters.npz")
    assert any(name.startswith("buffer/1.") for name in torch_saved)
    assert set(numpy_saved) == set(torch_saved)
    for name in numpy_saved:
        # atol: the bias before batch normalisation gets no gradient but rounding noise (~1e-17)
        np.testing.assert_allclose(torch_saved[name], numpy_saved[name], rtol=1e-8, atol=1e-12, err_msg=name)
    metrics = {backend: json.loads(open(f"{run['run_dir']}/metrics.json").read()) for backend, run in runs.items()}
    assert metrics["torch"][-1]["val_loss"] == pytest.approx(metrics["numpy"][-1]["val_loss"], rel=1e-8)


def test_parameter_files_load_into_a_torch_model_in_place():
    config = config_from_dict(iris("torch"))
    model = build(config)[1]
    tensors = model.named_parameters()
    arrays = {name: np.full(tuple(value.shape), 0.5) for name, value in tensors.items()}
    model.load_parameters(arrays)
    for name, value in model.named_parameters().items():
        assert value is tensors[name] and torch.all(value == 0.5)
    assert isinstance(model, Sequential)


def test_threads_caps_torchs_intra_op_threads_while_training():
    from corenn.hookspecs import hookimpl
    from corenn.run.config import load_preset, with_overrides

    seen = []

    class Spy:
        @hookimpl
        def corenn_epoch_end(self, run, epoch, metrics):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    config = with_overrides(load_preset("iris-ffnn"), epochs=2, backend="torch", threads=1)
    train(config, record=False, verbose=False, callbacks=[Spy()])
    assert seen == [1, 1]
    assert torch.get_num_threads() == before


def test_the_cli_resumes_a_numpy_run_on_torch(tmp_path, capsys):
    from corenn.cli import main

    run_dir = train(iris("numpy", epochs=2), out_dir=tmp_path, verbose=False)["run_dir"]
    assert main(["train", "--resume", run_dir, "--backend", "torch", "--epochs", "3", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["backend"] == "torch"


def test_a_torch_run_predicts_and_evaluates_on_numpy(tmp_path, capsys):
    """Its records are numpy files, so where torch is not installed the run still predicts: once
    no command or function could choose the backend, and it was always the run's."""
    from corenn.cli import main

    run_dir = train(iris("torch", epochs=3), out_dir=tmp_path, verbose=False)["run_dir"]
    X = np.random.default_rng(0).normal(size=(7, 4))
    on_torch, on_numpy = corenn.load(run_dir), corenn.load(run_dir, backend="numpy")
    assert on_numpy.config.backend == "numpy" and on_torch.config.backend == "torch"
    np.testing.assert_allclose(on_numpy.predict_proba(X), on_torch.predict_proba(X), rtol=0, atol=1e-12)
    reports = []
    for backend in ("torch", "numpy"):
        assert main(["evaluate", run_dir, "--backend", backend, "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert reports[0]["accuracy"] == reports[1]["accuracy"] and reports[0]["confusion"] == reports[1]["confusion"]
    out = tmp_path / "predictions.csv"
    assert main(["predict", run_dir, "--backend", "numpy", "--out", str(out)]) == 0
    assert out.read_text().startswith("Id,Category\n")


def test_a_mixed_precision_run_predicts_on_numpy_in_float32(tmp_path):
    config = with_overrides(load_preset("iris-ffnn"), epochs=2, backend="torch", dtype="float32", mixed_precision=True)
    run_dir = train(config, out_dir=tmp_path, verbose=False)["run_dir"]
    model = corenn.load(run_dir, backend="numpy")
    assert not model.config.mixed_precision and model.config.dtype == "float32"
    probabilities = model.predict_proba(np.ones((2, 4)))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_a_mixed_precision_run_resumes_on_numpy(tmp_path, capsys):
    """It was a dead end: numpy refused mixed_precision, and --resume refused --no-mixed-precision."""
    from corenn.cli import main

    config = with_overrides(load_preset("iris-ffnn"), epochs=2, backend="torch", dtype="float32", mixed_precision=True)
    run_dir = train(config, out_dir=tmp_path, verbose=False)["run_dir"]
    assert main(["train", "--resume", run_dir, "--backend", "numpy", "--epochs", "3", "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["backend"] == "numpy" and result["epochs"] == 3
    recorded = config_from_dict(__import__("tomllib").loads((tmp_path / "iris-ffnn" / "config.toml").read_text()))
    assert recorded.backend == "numpy" and recorded.mixed_precision is False


def test_a_model_predicts_from_a_tensor_that_requires_grad(tmp_path):
    """numpy's asarray refused it with torch's "Can't call numpy() on Tensor that requires grad"."""
    run_dir = train(iris("numpy", epochs=2), out_dir=tmp_path, verbose=False)["run_dir"]
    model = corenn.load(run_dir)
    X = np.random.default_rng(1).normal(size=(3, 4))
    tensor = torch.from_numpy(X).requires_grad_()
    np.testing.assert_array_equal(model.predict_proba(tensor), model.predict_proba(X))
