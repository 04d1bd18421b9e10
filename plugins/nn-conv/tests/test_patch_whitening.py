"""patch_whitening on numpy: the fitted filters whiten, gradients, frozen filters, errors, and the
model's data-dependent initialisation (initialize, fit_to_data, save and load)."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, DataError, ShapeError
from corenn.nn.model import Sequential
from corenn.run.config import ComponentConfig
from corenn.testing import check_layer_gradients

from corenn_conv import fast, whitening
from corenn_conv.whitening import PatchWhitening

TOLERANCE = 1e-6


def smooth_images(shape, seed=0):
    """Images whose neighbouring pixels and channels are strongly correlated (as in photos):
    random walks along both axes, with a shared component across channels."""
    rng = np.random.default_rng(seed)
    m, rows, cols, channels = shape
    noise = rng.standard_normal((m, rows, cols, 1)) + 0.3 * rng.standard_normal(shape)
    return np.cumsum(np.cumsum(noise, axis=1), axis=2) / np.sqrt(rows * cols) + 0.5


def patches_of(X, k):
    """Every k x k patch of X as a row, in the kernel's (i, j, c) order, one at a time."""
    m, rows, cols, channels = X.shape
    return np.array(
        [
            X[n, y : y + k, x : x + k, :].reshape(-1)
            for n in range(m)
            for y in range(rows - k + 1)
            for x in range(cols - k + 1)
        ]
    )


def fitted_layer(X, **options):
    return PatchWhitening(**options).fit(X)


# --- the math --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, k", [((3, 5, 6, 3), 2), ((2, 4, 4, 1), 3), ((2, 3, 3, 2), 1)])
@pytest.mark.parametrize(
    "covariance", [whitening.patch_whitening_covariance.reference, fast.patch_whitening_covariance_chunked]
)
def test_patch_covariance_is_the_mean_outer_product_of_the_patches(shape, k, covariance):
    X = np.random.default_rng(1).standard_normal(shape)
    P = patches_of(X, k)
    np.testing.assert_allclose(covariance(X, k), P.T @ P / len(P), rtol=1e-13, atol=1e-15)


def test_patch_covariance_of_a_batch_summed_in_many_chunks_is_the_same(monkeypatch):
    X = smooth_images((7, 6, 6, 3))
    whole = fast.patch_whitening_covariance_chunked(X, 2)
    monkeypatch.setattr(fast, "PATCH_ROWS_PER_CHUNK", 40)  # 25 patches per image: one image a chunk
    assert fast.samples_per_chunk(X.shape[1:], 2) == 1
    np.testing.assert_allclose(fast.patch_whitening_covariance_chunked(X, 2), whole, rtol=1e-13)


def test_the_filters_whiten_correlated_patches():
    X = smooth_images((64, 10, 10, 3))
    P = patches_of(X, 2)
    raw = P.T @ P / len(P)
    assert np.abs(raw - np.eye(12)).max() > 0.5  # far from white to start with
    W = whitening.whitening_filters(whitening.patch_whitening_covariance(X, 2), 2, 3, epsilon=1e-12)
    assert W.shape == (2, 2, 3, 24)
    positive = P @ W[..., :12].reshape(12, 12)
    np.testing.assert_allclose(positive.T @ positive / len(P), np.eye(12), atol=1e-6)


def test_epsilon_shrinks_each_whitened_variance_to_lambda_over_lambda_plus_epsilon():
    X = smooth_images((32, 8, 8, 2))
    S = whitening.patch_whitening_covariance(X, 2)
    eigenvalues = np.linalg.eigvalsh(S)[::-1]
    epsilon = float(np.median(eigenvalues))  # large enough to matter for half the directions
    W = whitening.whitening_filters(S, 2, 2, epsilon)[..., :8].reshape(8, 8)
    np.testing.assert_allclose(W.T @ S @ W, np.diag(eigenvalues / (eigenvalues + epsilon)), atol=1e-12)


def test_filters_come_in_descending_eigenvalue_order_with_their_largest_entry_positive_then_negated():
    S = whitening.patch_whitening_covariance(smooth_images((16, 6, 6, 3)), 2)
    W = whitening.whitening_filters(S, 2, 3, 5e-4)
    positive, negative = W[..., :12].reshape(12, 12), W[..., 12:].reshape(12, 12)
    np.testing.assert_array_equal(negative, -positive)
    directions = positive / np.linalg.norm(positive, axis=0)
    rayleigh = np.einsum("io,ij,jo->o", directions, S, directions)
    assert np.all(np.diff(rayleigh) < 0)
    np.testing.assert_allclose(rayleigh, np.linalg.eigvalsh(S)[::-1], rtol=1e-10)
    largest = directions[np.argmax(np.abs(directions), axis=0), np.arange(12)]
    assert np.all(largest > 0)
    # so the filters depend on the data only: the flipped matrix gives the very same ones
    np.testing.assert_allclose(whitening.whitening_filters(S.T.copy(), 2, 3, 5e-4), W, rtol=1e-10, atol=1e-12)


def test_whitening_filters_checks_its_matrix():
    with pytest.raises(ShapeError, match=r"12 entries.*\(12, 12\).*\(8, 8\)"):
        whitening.whitening_filters(np.eye(8), 2, 3, 5e-4)
    with pytest.raises(DataError, match="finite"):
        whitening.whitening_filters(np.full((4, 4), np.nan), 2, 1, 5e-4)


# --- the layer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, match",
    [
        ({"kernel_size": 0}, "kernel_size must be an integer >= 1"),
        ({"kernel_size": 2.0}, "kernel_size must be an integer >= 1"),
        ({"kernel_size": True}, "kernel_size"),
        ({"kernel_size": (2, 2)}, "kernel_size"),
        ({"epsilon": 0.0}, "epsilon must be a finite number > 0"),
        ({"epsilon": -1e-3}, "epsilon"),
        ({"epsilon": float("inf")}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"epsilon": "small"}, "epsilon"),
        ({"activation": "no_such_thing"}, "no_such_thing"),
        ({"n_out": 8}, "n_out"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options, match):
    with pytest.raises(ConfigError, match=match):
        corenn.create("layer", "patch_whitening", **options)


def test_defaults_are_airbenchs():
    layer = corenn.create("layer", "patch_whitening")
    assert isinstance(layer, PatchWhitening)
    assert (layer.kernel_size, layer.epsilon, layer.activation.name) == (2, 5e-4, "linear")


def test_the_output_is_the_whitened_patches_then_their_negation_plus_the_bias():
    X = smooth_images((4, 6, 7, 3))
    layer = fitted_layer(X)
    layer.parameters["b"][...] = np.random.default_rng(0).standard_normal((1, 24))
    Y = layer.forward(X)
    assert Y.shape == (4, 5, 6, 24) and (layer.n_in, layer.n_out) == (3, 24)
    expected = patches_of(X, 2) @ layer.buffers["W"].reshape(12, 24) + layer.parameters["b"]
    np.testing.assert_allclose(Y.reshape(-1, 24), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "options, shape",
    [
        ({}, (3, 5, 5, 2)),
        ({"kernel_size": 3, "activation": "tanh"}, (2, 5, 6, 2)),
        ({"kernel_size": 1}, (2, 3, 4, 3)),
        ({"epsilon": 0.1, "activation": "sigmoid"}, (2, 4, 4, 1)),
    ],
)
def test_gradients_of_the_input_and_the_bias_match_finite_differences(options, shape):
    X = smooth_images(shape, seed=2)
    layer = fitted_layer(X, **options)
    layer.parameters["b"][...] = np.random.default_rng(3).normal(scale=0.1, size=layer.parameters["b"].shape)
    errors = check_layer_gradients(layer, np.random.default_rng(4).standard_normal(shape))
    assert set(errors) == {"X", "b"}
    assert max(errors.values()) <= TOLERANCE, errors


def test_the_filters_are_frozen_buffers_and_only_the_bias_is_trained():
    X = smooth_images((3, 5, 5, 2))
    layer = fitted_layer(X)
    Y = layer.forward(X)
    filters = layer.buffers["W"].copy()
    layer.backward(np.ones_like(Y))
    assert list(layer.parameters) == ["b"] and list(layer.gradients) == ["b"]
    assert list(layer.buffers) == ["W"]
    np.testing.assert_allclose(layer.gradients["b"], np.full((1, 16), 3 * 4 * 4.0))
    model = Sequential([layer])
    assert list(model.named_parameters()) == ["0.b"] and list(model.named_buffers()) == ["0.W"]
    np.testing.assert_array_equal(layer.buffers["W"], filters)


def test_skipping_the_input_gradient_still_fills_the_bias_gradient():
    X = smooth_images((2, 5, 5, 3))
    layer = fitted_layer(X)
    G = np.random.default_rng(0).standard_normal(layer.forward(X).shape)
    dX = layer.backward(G)
    expected_db = layer.gradients["b"].copy()
    layer.needs_input_gradient = False
    layer.forward(X)
    assert layer.backward(G) is None
    np.testing.assert_allclose(layer.gradients["b"], expected_db)
    assert dX.shape == X.shape


def test_float32_data_gives_float32_filters_bias_and_outputs():
    X = smooth_images((3, 6, 6, 3)).astype(np.float32)
    layer = fitted_layer(X)
    assert layer.buffers["W"].dtype == np.float32 and layer.parameters["b"].dtype == np.float32
    Y = layer.forward(X)
    assert Y.dtype == np.float32 and layer.backward(np.ones_like(Y)).dtype == np.float32
    reference = fitted_layer(X.astype(np.float64))
    np.testing.assert_allclose(layer.buffers["W"], reference.buffers["W"], rtol=1e-4, atol=1e-4)


def test_forward_before_fit_is_an_error_that_says_how_to_fit():
    layer = PatchWhitening()
    X = smooth_images((2, 4, 4, 3))
    with pytest.raises(CorennError, match=r"must be fitted.*fit_to_data"):
        layer.forward(X)
    with pytest.raises(CorennError, match="backward was called before any forward"):
        layer.backward(np.ones((2, 3, 3, 24)))


def test_allocate_makes_unfitted_arrays_and_the_output_shape_only():
    layer = PatchWhitening(kernel_size=3)
    Y = layer.allocate(np.zeros((1, 8, 7, 2), dtype=np.float32))
    assert Y.shape == (1, 6, 5, 36) and Y.dtype == np.float32 and not Y.any()
    assert layer.buffers["W"].shape == (3, 3, 2, 36) and layer.parameters["b"].shape == (1, 36)
    assert not layer.fitted
    with pytest.raises(CorennError, match="must be fitted"):
        layer.forward(np.ones((1, 8, 7, 2)))
    layer.fit(smooth_images((2, 8, 7, 2)))
    assert layer.fitted and layer.buffers["W"].dtype == np.float32


def test_filters_written_into_the_buffer_count_as_fitted():
    X = smooth_images((2, 5, 5, 3))
    source = fitted_layer(X)
    target = PatchWhitening()
    target.allocate(X[:1])
    target.buffers["W"][...] = source.buffers["W"]  # what load_parameters does
    np.testing.assert_array_equal(target.forward(X), source.forward(X))


def test_fitting_again_refits_the_filters_and_keeps_the_bias():
    """The new filters are a new array (fitting writes into no array it holds: a backend's arrays
    may not be writable), of the old one's shape and dtype."""
    layer = fitted_layer(smooth_images((2, 5, 5, 3), seed=0))
    filters = layer.buffers["W"]
    layer.parameters["b"] = np.full_like(layer.parameters["b"], 0.25)
    first = filters.copy()
    layer.fit(smooth_images((2, 5, 5, 3), seed=1))
    refitted = layer.buffers["W"]
    assert refitted.shape == filters.shape and refitted.dtype == filters.dtype
    assert not np.allclose(refitted, first) and np.array_equal(filters, first)
    assert np.all(layer.parameters["b"] == 0.25)


@pytest.mark.parametrize(
    "shape, match",
    [
        ((4, 4, 3), r"4-d NHWC input \(m, H, W, C\), got shape \(4, 4, 3\)"),
        ((2, 0, 4, 3), "non-empty"),
        ((2, 1, 4, 3), r"1x4 pixels.*smaller than one 2x2 patch"),
    ],
)
def test_inputs_that_hold_no_patch_are_shape_errors(shape, match):
    for call in (PatchWhitening().fit, PatchWhitening().allocate, fitted_layer(smooth_images((2, 4, 4, 3))).forward):
        with pytest.raises(ShapeError, match=match):
            call(np.zeros(shape))


def test_another_number_of_channels_than_fitted_is_a_shape_error():
    layer = fitted_layer(smooth_images((2, 4, 4, 3)))
    with pytest.raises(ShapeError, match=r"made for 3 input channels.*\(2, 2, 3, 24\).*4 channels"):
        layer.forward(np.zeros((2, 4, 4, 4)))
    with pytest.raises(ShapeError, match="made for 3 input channels"):
        layer.fit(smooth_images((2, 4, 4, 4)))
    layer.forward(smooth_images((2, 4, 4, 3)))
    with pytest.raises(ShapeError, match=r"output's shape \(2, 3, 3, 24\)"):
        layer.backward(np.zeros((2, 3, 3, 12)))


# --- in a model ------------------------------------------------------------------------------


def whitened_network(seed=0, dtype="float64", image_shape=(6, 6, 3)):
    configs = [
        ComponentConfig("patch_whitening", {"activation": "relu"}),
        ComponentConfig("conv2d", {"n_out": 4, "kernel_shape": 3}),
        ComponentConfig("flatten", {}),
        ComponentConfig("fully_connected", {"n_out": "auto", "activation": "softmax"}),
    ]
    model = Sequential.from_config(configs, n_classes=3, seed=seed)
    return model.initialize(image_shape, dtype)


def test_initialize_makes_every_array_without_fitting_on_its_zero_sample():
    model = whitened_network()
    whitening_layer = model.layers[0]
    assert not whitening_layer.fitted and not whitening_layer.buffers["W"].any()
    assert model.layers[1].parameters["W"].shape == (3, 3, 24, 4)
    assert model.layers[3].parameters["W"].shape == (5 * 5 * 4, 3)
    assert sorted(model.parameter_arrays()) == ["0.b", "1.W", "1.b", "3.W", "3.b", "buffer/0.W"]
    with pytest.raises(CorennError, match="must be fitted"):
        model.predict(smooth_images((2, 6, 6, 3)))


def test_initialize_still_names_the_layer_whose_shapes_do_not_fit():
    configs = [ComponentConfig("patch_whitening", {"kernel_size": 4})]
    with pytest.raises(ShapeError, match=r"layers\[0\] \(patch_whitening\).*smaller than one 4x4 patch"):
        Sequential.from_config(configs, n_classes=3).initialize((3, 3, 1))


@pytest.mark.parametrize("training", [True, False])
def test_fit_to_data_fits_on_the_batch_and_restores_the_mode(training):
    X = smooth_images((8, 6, 6, 3))
    model = whitened_network().train(training)
    assert model.fit_to_data(X) is model
    assert model.training is training
    np.testing.assert_array_equal(model.layers[0].buffers["W"], fitted_layer(X).buffers["W"])
    assert model.predict_proba(X).shape == (8, 3)


class RecordingFit:
    """A layer fitted to data that records what it was fitted to and the mode it saw."""

    def __init__(self):
        self.parameters, self.gradients, self.cache = {}, {}, {}
        self.n_in = self.n_out = None
        self.training = True
        self.fitted_to = None
        self.training_when_fitted = None

    def fit(self, X):
        self.fitted_to = np.array(X)
        self.training_when_fitted = self.training

    def forward(self, X):
        return X * 2.0

    def backward(self, dLdY):
        return dLdY * 2.0


def test_each_fitted_layer_sees_the_output_of_the_layers_before_it_in_eval_mode():
    X = smooth_images((4, 6, 6, 3))
    whitening_layer, recorder = PatchWhitening(), RecordingFit()
    dropout = corenn.create("layer", "dropout", rate=0.5)
    model = Sequential([whitening_layer, dropout, recorder])
    model.fit_to_data(X)
    assert whitening_layer.fitted
    np.testing.assert_array_equal(recorder.fitted_to, whitening_layer.forward(X))  # dropout off: eval mode
    assert recorder.training_when_fitted is False
    assert model.training and recorder.training and dropout.training


def test_fit_to_data_names_the_layer_of_a_shape_error():
    model = Sequential([PatchWhitening()], ["patch_whitening"])
    with pytest.raises(ShapeError, match=r"layers\[0\] \(patch_whitening\).*4-d NHWC"):
        model.fit_to_data(np.zeros((3, 4)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_and_load_round_trip_carries_the_fitted_filters(tmp_path, dtype):
    X = smooth_images((8, 6, 6, 3)).astype(dtype)
    trained = whitened_network(seed=0, dtype=dtype).fit_to_data(X)
    trained.layers[0].parameters["b"][...] = 0.125
    path = tmp_path / "params.npz"
    trained.save_parameters(path)
    assert "buffer/0.W" in np.load(path).files
    restored = whitened_network(seed=1, dtype=dtype)  # another seed: other conv weights until loaded
    assert not restored.layers[0].fitted
    restored.load_parameters(path)
    assert restored.layers[0].fitted
    np.testing.assert_array_equal(restored.layers[0].buffers["W"], trained.layers[0].buffers["W"])
    np.testing.assert_array_equal(restored.predict_proba(X), trained.predict_proba(X))
    assert restored.layers[0].buffers["W"].dtype == np.dtype(dtype)


def test_a_file_saved_before_fitting_loads_as_unfitted(tmp_path):
    path = tmp_path / "params.npz"
    whitened_network().save_parameters(path)
    restored = whitened_network().load_parameters(path)
    with pytest.raises(CorennError, match="must be fitted"):
        restored.predict(smooth_images((2, 6, 6, 3)))
