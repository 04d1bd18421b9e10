"""Mixed precision on the torch backend: bfloat16 products, float32 everything else.

The layers with ``compute_dtype = "bfloat16"`` must agree with their float32 selves to
bfloat16's precision and must *not* be identical to them (else the cast did nothing); their
parameters and gradients stay float32. ``mixed_precision = true`` in a config sets it on the
model a run builds, trains, records float32 parameters, and is refused where it cannot work.
"""

import numpy as np
import pytest
import torch

import corenn
from corenn.cli import main
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError
from corenn.files import load_arrays
from corenn.nn.model import Sequential
from corenn.run.build import build
from corenn.run.config import ComponentConfig, config_from_dict, load_config, load_preset, with_overrides
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd, plugin_system_from, plugins_in_use, relative_error

# bfloat16 keeps 8 significant bits: one rounding is a relative error of at most 2^-8 ~ 4e-3;
# the products' inputs are rounded, so their results are off by about that, norm-wise.
BFLOAT16_TOLERANCE = 2e-2
# ... and a cast that silently did nothing would leave float32's ~1e-7.
SURELY_ROUNDED = 1e-4

LAYER_CASES = [
    ("conv2d", {"n_out": 6, "kernel_shape": 3, "activation": "relu"}, (4, 9, 9, 3)),
    ("conv2d", {"n_out": 5, "kernel_shape": (2, 4), "stride": 2, "pad": "same", "activation": "tanh"}, (3, 9, 8, 4)),
    ("fully_connected", {"n_out": 7, "activation": "tanh"}, (6, 20)),
    ("patch_whitening", {"kernel_size": 2, "activation": "gelu"}, (5, 8, 8, 3)),
]


def as_numpy(tensor):
    return tensor.detach().cpu().to(torch.float64).numpy()


def layer_in(name, options, compute_dtype):
    layer = corenn.create("layer", name, "torch", **options)
    layer.rng = np.random.default_rng(0)
    layer.compute_dtype = compute_dtype
    return layer


def forward_and_backward(layer, X, G_seed=2):
    if hasattr(layer, "fit"):
        layer.fit(X)  # in float64 from the data, whatever compute_dtype: both fit the same filters
    Y = layer.forward(X)
    G = torch.from_numpy(np.random.default_rng(G_seed).standard_normal(tuple(Y.shape)).astype(np.float32))
    dX = layer.backward(G)
    return Y, dX


@pytest.mark.parametrize("name, options, shape", LAYER_CASES)
def test_bfloat16_products_agree_with_float32_to_bfloat16_precision(name, options, shape):
    X = torch.from_numpy(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    full, mixed = layer_in(name, options, None), layer_in(name, options, "bfloat16")
    Y_full, dX_full = forward_and_backward(full, X)
    Y_mixed, dX_mixed = forward_and_backward(mixed, X)

    assert Y_mixed.dtype == dX_mixed.dtype == torch.float32
    for key, value in full.parameters.items():
        assert mixed.parameters[key].dtype == torch.float32, key
        assert torch.equal(mixed.parameters[key], value), f"{name}: the parameters {key} themselves are not rounded"
    for what, mixed_value, full_value in [("output", Y_mixed, Y_full), ("dL/dX", dX_mixed, dX_full)] + [
        (f"dL/d{key}", mixed.gradients[key], value) for key, value in full.gradients.items()
    ]:
        assert mixed_value.dtype == torch.float32, f"{name} {what}"
        error = relative_error(as_numpy(mixed_value), as_numpy(full_value))
        assert error <= BFLOAT16_TOLERANCE, f"{name} {what}: relative error {error:.3g}"
    for what, mixed_value, full_value in [("output", Y_mixed, Y_full), ("dL/dX", dX_mixed, dX_full)]:
        error = relative_error(as_numpy(mixed_value), as_numpy(full_value))
        assert error >= SURELY_ROUNDED, (
            f"{name} {what}: relative error {error:.3g}: the product did not run in bfloat16"
        )
    if "W" in full.gradients:
        error = relative_error(as_numpy(mixed.gradients["W"]), as_numpy(full.gradients["W"]))
        assert error >= SURELY_ROUNDED, f"{name} dL/dW: relative error {error:.3g}: the product did not run in bfloat16"


def test_a_fully_connected_output_is_exactly_the_bfloat16_product():
    X = torch.from_numpy(np.random.default_rng(3).standard_normal((5, 11)).astype(np.float32))
    layer = layer_in("fully_connected", {"n_out": 4}, torch.bfloat16)
    Y = layer.forward(X)
    W, b = layer.parameters["W"], layer.parameters["b"]
    expected = torch.addmm(b.to(torch.bfloat16), X.to(torch.bfloat16), W.to(torch.bfloat16)).to(torch.float32)
    assert torch.equal(Y, expected)


def test_the_bias_gradient_is_summed_in_the_runs_dtype():
    """A linear layer's db is the sum of dL/dY over the batch: exact in float32, not rounded."""
    X = torch.from_numpy(np.random.default_rng(4).standard_normal((3, 6, 6, 2)).astype(np.float32))
    layer = layer_in("conv2d", {"n_out": 3, "kernel_shape": 3}, "bfloat16")
    Y = layer.forward(X)
    G = torch.from_numpy(np.random.default_rng(5).standard_normal(tuple(Y.shape)).astype(np.float32))
    layer.backward(G)
    torch.testing.assert_close(layer.gradients["b"], G.sum(dim=(0, 1, 2)).reshape(1, -1), rtol=1e-6, atol=1e-6)


def test_without_a_compute_dtype_a_layer_computes_in_its_inputs_dtype():
    X = torch.from_numpy(np.random.default_rng(6).standard_normal((2, 5, 5, 3)))
    layer = layer_in("conv2d", {"n_out": 2, "kernel_shape": 3}, None)
    assert layer.compute_dtype is None
    layer.forward(X)
    assert layer.cache["convolution"].X_nchw.dtype == torch.float64


@pytest.mark.parametrize("value", ["float16", torch.float16, "bf16", 16, torch.int32])
def test_an_unknown_compute_dtype_is_a_config_error_naming_the_allowed_ones(value):
    layer = corenn.create("layer", "conv2d", "torch", n_out=2, kernel_shape=3)
    with pytest.raises(
        ConfigError,
        match=r"conv2d: compute_dtype must be None \(the input's dtype\) or one of bfloat16, float32, float64",
    ):
        layer.compute_dtype = value


def test_a_compute_dtype_is_a_name_or_a_torch_dtype():
    layer = corenn.create("layer", "fully_connected", "torch", n_out=2)
    layer.compute_dtype = "bfloat16"
    assert layer.compute_dtype is torch.bfloat16
    layer.compute_dtype = torch.bfloat16
    assert layer.compute_dtype is torch.bfloat16
    layer.compute_dtype = None
    assert layer.compute_dtype is None


def test_the_model_sets_the_compute_dtype_on_every_layer_that_has_one_residual_blocks_included():
    conv = {"name": "conv2d", "n_out": 4, "kernel_shape": 3}
    layers = [
        ComponentConfig("patch_whitening", {"kernel_size": 2}),
        ComponentConfig("conv2d", {"n_out": 4, "kernel_shape": 3}),
        ComponentConfig(
            "residual", {"layers": [conv, {"name": "batch_norm"}, conv], "shortcut": {**conv, "kernel_shape": 1}}
        ),
        ComponentConfig("pool2d", {"kernel_shape": 2, "stride": 2}),
        ComponentConfig("flatten"),
        ComponentConfig("fully_connected", {"n_out": "auto", "activation": "softmax"}),
    ]
    model = Sequential.from_config(layers, n_classes=3, backend="torch")
    assert model.set_compute_dtype("bfloat16") is model
    whitening, conv2d, residual, pool, flatten, dense = model.layers
    heavy = [whitening, conv2d, residual.layers[0], residual.layers[2], residual.shortcut, dense]
    assert all(layer.compute_dtype is torch.bfloat16 for layer in heavy)
    assert not any(hasattr(layer, "compute_dtype") for layer in (pool, flatten, residual.layers[1]))
    model.set_compute_dtype(None)
    assert all(layer.compute_dtype is None for layer in heavy)


# Configs


def iris(**changes):
    return load_preset("iris-ffnn").to_dict() | changes


def test_mixed_precision_is_false_by_default_and_absent_from_a_configs_table():
    config = config_from_dict(iris())
    assert config.mixed_precision is False
    assert "mixed_precision" not in config.to_dict()
    mixed = config_from_dict(iris(backend="torch", dtype="float32", mixed_precision=True))
    assert mixed.mixed_precision is True
    assert config_from_dict(mixed.to_dict()) == mixed
    assert "mixed_precision = true" in mixed.to_toml()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"mixed_precision": True}, r'mixed_precision = true needs backend = "torch" .*got backend = \'numpy\''),
        ({"mixed_precision": True, "dtype": "float32"}, r'mixed_precision = true needs backend = "torch"'),
        (
            {"mixed_precision": True, "backend": "torch"},
            r"mixed_precision = true is for float32 runs .*got dtype = 'float64'.*set dtype = \"float32\"",
        ),
        (
            {"mixed_precision": "yes", "backend": "torch", "dtype": "float32"},
            r"mixed_precision must be true or false, got 'yes'",
        ),
        (
            {"mixed_precision": 1, "backend": "torch", "dtype": "float32"},
            r"mixed_precision must be true or false, got 1",
        ),
    ],
)
def test_mixed_precision_where_it_cannot_work_is_a_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(iris(**changes))


def test_the_override_is_validated_with_the_rest_of_the_config():
    config = config_from_dict(iris(backend="torch", dtype="float32"))
    assert with_overrides(config, mixed_precision=True).mixed_precision is True
    assert with_overrides(with_overrides(config, mixed_precision=True), mixed_precision=False).mixed_precision is False
    with pytest.raises(ConfigError, match="mixed_precision = true is for float32 runs"):
        with_overrides(config, mixed_precision=True, dtype="float64")


def test_the_command_line_flag_reaches_the_config_check(capsys, tmp_path):
    code = main(["train", "--preset", "iris-ffnn", "--mixed-precision", "--out", str(tmp_path), "--quiet"])
    assert code == 1
    assert 'mixed_precision = true needs backend = "torch"' in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_resume_refuses_the_flag(capsys, tmp_path):
    code = main(["train", "--resume", str(tmp_path), "--no-mixed-precision"])
    assert code == 1
    assert "--no-mixed-precision cannot be combined with it" in capsys.readouterr().err


# A whole run

IMAGE_SHAPE = (8, 8, 3)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tiny_images(data_dir=None):
    """Three classes told apart by a brighter column: a conv net learns them in a few epochs."""
    rng = np.random.default_rng(7)

    def split(n):
        labels = np.arange(n) % 3
        X = rng.normal(size=(n, *IMAGE_SHAPE))
        X[np.arange(n), :, 2 * labels + 1, :] += 1.0
        return Split(X, labels)

    return DatasetSplits("tiny_images", split(96), split(24), split(24), ("a", "b", "c"), standardize="channel")


class ImagesPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("dataset", "tiny_images", tiny_images)


@pytest.fixture
def with_images(no_plots):
    with plugins_in_use(plugin_system_from(ImagesPlugin)):
        yield


def conv_config(name, mixed_precision, device="cpu"):
    return {
        "name": name,
        "seed": 3,
        "epochs": 3,
        "backend": "torch",
        "device": device,
        "dtype": "float32",
        "mixed_precision": mixed_precision,
        "dataset": {"name": "tiny_images", "batch_size": 8},
        "optimizer": {"name": "sgd", "lr": 0.02, "momentum": 0.9},
        "layers": [
            {"name": "patch_whitening", "kernel_size": 2, "activation": "relu"},
            {"name": "conv2d", "n_out": 6, "kernel_shape": 3, "activation": "relu"},
            {"name": "pool2d", "kernel_shape": 2, "stride": 2},
            {"name": "flatten"},
            {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
        ],
    }


class FirstEpoch:
    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        if epoch == 1:
            self.train_loss = metrics["train_loss"]


@pytest.mark.parametrize("device", DEVICES)
def test_a_mixed_precision_run_trains_records_float32_and_rebuilds_in_mixed_precision(tmp_path, with_images, device):
    mixed_epoch, full_epoch = FirstEpoch(), FirstEpoch()
    mixed = train(conv_config("mixed", True, device), out_dir=tmp_path, verbose=False, callbacks=[mixed_epoch])
    train(conv_config("full", False, device), out_dir=tmp_path, verbose=False, callbacks=[full_epoch])

    steps = np.loadtxt(f"{mixed['run_dir']}/steps.csv", delimiter=",", skiprows=1)
    header = open(f"{mixed['run_dir']}/steps.csv").readline().strip().split(",")
    losses = steps[:, header.index("loss")]
    assert losses[-6:].mean() < 0.1 * losses[:6].mean(), "the mixed-precision run did not learn"
    assert mixed["test_accuracy"] >= 0.9
    # the float32 run to bfloat16's precision (runs drift apart later), but not that run itself
    assert mixed_epoch.train_loss == pytest.approx(full_epoch.train_loss, rel=5e-2)
    assert mixed_epoch.train_loss != full_epoch.train_loss

    saved = load_arrays(f"{mixed['run_dir']}/parameters.npz")
    assert {value.dtype for value in saved.values()} == {np.dtype(np.float32)}
    config = load_config(f"{mixed['run_dir']}/config.toml")
    assert config.mixed_precision is True and config.device == device
    config = with_overrides(config, device="cpu")  # a GPU run's records load on the CPU too
    data, model, *_ = build(config)
    model.load_parameters(f"{mixed['run_dir']}/parameters.npz")
    assert [getattr(layer, "compute_dtype", None) for layer in model.layers] == [
        torch.bfloat16,
        torch.bfloat16,
        None,
        None,
        torch.bfloat16,
    ]
    assert np.mean(model.predict(data.test.X) == data.test.labels) == pytest.approx(mixed["test_accuracy"])


def test_a_mixed_precision_run_resumes_to_the_uninterrupted_result(tmp_path, with_images):
    whole = train(conv_config("run", True), out_dir=tmp_path / "whole", verbose=False)
    with pytest.raises(KeyboardInterrupt):
        train(conv_config("run", True), out_dir=tmp_path / "cut", verbose=False, callbacks=[InterruptAtEpochEnd(2)])
    resumed = resume(tmp_path / "cut" / "run", verbose=False)
    assert resumed["test_loss"] == pytest.approx(whole["test_loss"], rel=1e-6)
