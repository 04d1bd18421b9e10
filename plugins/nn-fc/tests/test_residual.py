"""residual on numpy (with fully_connected, batch_norm and dropout inside): finite differences
through both paths, the flattened tables, training mode and the generator reaching the inner
layers, and errors that name the layer and the shapes."""

import numpy as np
import pytest

import corenn
from corenn.errors import CorennError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, FixedRandomness, check_layer_conformance, check_layer_gradients

BLOCK = [
    {"name": "fully_connected", "n_out": 6, "activation": "tanh"},
    {"name": "batch_norm", "activation": "tanh"},
    {"name": "dropout", "rate": 0.25},
    {"name": "fully_connected", "n_out": 4},
]


def residual(rng_seed=0, **options):
    layer = corenn.create("layer", "residual", **options)
    layer.rng = np.random.default_rng(rng_seed)
    return layer


def with_random_biases(layer, X, seed=3):
    """One forward to make the parameters, then random biases (zero ones can hide a bias bug)."""
    layer.forward(X)
    rng = np.random.default_rng(seed)
    for key, value in layer.parameters.items():
        if key.endswith(".b"):
            value[...] = rng.normal(scale=0.3, size=value.shape)
    return layer


@pytest.mark.parametrize(
    "options, input_features",
    [
        ({"layers": BLOCK}, 4),
        (
            {
                "layers": BLOCK[:2] + [{"name": "fully_connected", "n_out": 3}],
                "shortcut": {"name": "fully_connected", "n_out": 3},
            },
            5,
        ),
        ({"layers": [{"name": "fully_connected", "n_out": 4, "activation": "relu"}], "activation": "tanh"}, 4),
        (
            {
                "layers": [{"name": "residual", "layers": BLOCK[:2] + [{"name": "fully_connected", "n_out": 4}]}],
                "activation": "linear",
            },
            4,
        ),
    ],
    ids=["identity shortcut", "projection shortcut", "tanh output", "nested"],
)
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_finite_differences_through_both_paths(options, input_features, training):
    X = np.random.default_rng(10).standard_normal((6, input_features))
    layer = with_random_biases(residual(**options), X)
    layer.training = training
    errors = check_layer_gradients(FixedRandomness(layer, seed=5), X)
    assert set(errors) == {"X", *layer.parameters}
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


def test_output_is_the_activation_of_the_input_plus_the_inner_stack():
    X = np.random.default_rng(1).standard_normal((5, 3))
    layer = residual(layers=[{"name": "fully_connected", "n_out": 3, "activation": "tanh"}], activation="relu")
    Y = layer.forward(X)
    inner = layer.layers[0]
    np.testing.assert_allclose(
        Y, np.maximum(X + np.tanh(X @ inner.parameters["W"] + inner.parameters["b"]), 0), rtol=1e-14
    )
    assert layer.n_in == layer.n_out == 3


def test_tables_are_the_inner_layers_own_under_position_keys():
    layer = residual(layers=BLOCK, shortcut={"name": "fully_connected", "n_out": 4})
    assert not layer.parameters and not layer.buffers  # lazy, like the inner layers
    Y = layer.forward(np.ones((3, 4)))
    layer.backward(np.ones_like(Y))
    keys = ["0.W", "0.b", "1.W", "1.b", "3.W", "3.b", "shortcut.W", "shortcut.b"]
    assert list(layer.parameters) == keys and list(layer.gradients) == keys
    assert list(layer.buffers) == ["1.running_mean", "1.running_var"]
    assert layer.parameters["0.W"] is layer.layers[0].parameters["W"]
    assert layer.gradients["shortcut.b"] is layer.shortcut.gradients["b"]
    assert layer.buffers["1.running_var"] is layer.layers[1].buffers["running_var"]


def test_assigning_a_flat_key_replaces_the_inner_layers_entry():
    layer = residual(layers=BLOCK)
    layer.forward(np.ones((3, 4)))
    replacement = np.full((6, 4), 0.5)
    layer.parameters["3.W"] = replacement
    layer.buffers["1.running_mean"] = np.full((1, 6), 2.0)
    assert layer.layers[3].parameters["W"] is replacement
    np.testing.assert_array_equal(layer.layers[1].buffers["running_mean"], np.full((1, 6), 2.0))
    with pytest.raises(KeyError, match="'7.W' is none of the inner layers' entries"):
        layer.parameters["7.W"] = replacement


def test_nested_residuals_flatten_to_dotted_keys():
    inner = {"name": "residual", "layers": [{"name": "fully_connected", "n_out": 2}]}
    layer = residual(layers=[inner, {"name": "batch_norm"}])
    layer.forward(np.ones((3, 2)))
    assert list(layer.parameters) == ["0.0.W", "0.0.b", "1.W", "1.b"]
    layer.parameters["0.0.b"] = np.ones((1, 2))
    np.testing.assert_array_equal(layer.layers[0].layers[0].parameters["b"], np.ones((1, 2)))


def test_training_mode_reaches_every_inner_layer():
    inner = {"name": "residual", "layers": [{"name": "dropout"}], "activation": "linear"}
    layer = residual(layers=[{"name": "batch_norm"}, inner], shortcut={"name": "dropout"})
    layer.training = False
    assert layer.layers[0].training is False and layer.layers[1].layers[0].training is False
    assert layer.shortcut.training is False
    X = np.random.default_rng(0).standard_normal((4, 3))
    # evaluation: every dropout is the identity and batch norm uses the fresh running statistics,
    # so the inner stack is 2 * X / sqrt(1 + epsilon), and the shortcut X
    np.testing.assert_allclose(layer.forward(X), np.maximum(X + 2 * X / np.sqrt(1 + 1e-5), 0), rtol=1e-14)
    layer.training = True
    assert layer.layers[1].layers[0].training is True


def test_one_generator_decides_weights_and_masks_for_every_inner_layer():
    X = np.random.default_rng(0).standard_normal((5, 4))
    first, second = residual(rng_seed=7, layers=BLOCK), residual(rng_seed=7, layers=BLOCK)
    np.testing.assert_array_equal(first.forward(X), second.forward(X))
    np.testing.assert_array_equal(first.forward(X), second.forward(X))  # the next masks too
    assert all(layer.rng is first.rng for layer in first.layers)
    other = residual(rng_seed=8, layers=BLOCK)
    assert not np.array_equal(other.forward(X), first.forward(X))


def test_float32_stays_float32():
    layer = residual(layers=BLOCK)
    Y = layer.forward(np.ones((3, 4), dtype=np.float32))
    assert Y.dtype == np.float32 and layer.backward(np.ones_like(Y)).dtype == np.float32
    assert all(value.dtype == np.float32 for value in (*layer.parameters.values(), *layer.buffers.values()))


def test_conformance():
    check_layer_conformance(lambda: residual(layers=BLOCK, shortcut={"name": "fully_connected", "n_out": 4}), (4, 5))


def test_a_shape_mismatch_names_the_layer_both_paths_and_their_shapes():
    layer = residual(layers=[{"name": "fully_connected", "n_out": 3}])
    with pytest.raises(ShapeError) as error:
        layer.forward(np.ones((2, 5)))
    message = str(error.value)
    assert message.startswith("residual:")
    assert "shape (2, 5) into shape (2, 3)" in message and "identity shortcut gives shape (2, 5)" in message
    assert "shortcut = {name = " in message
    layer = residual(layers=[{"name": "fully_connected", "n_out": 3}], shortcut={"name": "fully_connected", "n_out": 4})
    with pytest.raises(ShapeError, match=r"the shortcut \(fully_connected\) gives shape \(2, 4\)"):
        layer.forward(np.ones((2, 5)))


def test_an_inner_shape_error_names_the_inner_layer():
    layer = residual(layers=[{"name": "batch_norm"}, {"name": "fully_connected", "n_out": 2}])
    with pytest.raises(
        ShapeError, match=r"^residual layers\[1\] \(fully_connected\): fully_connected expects a 2-d input"
    ):
        layer.forward(np.ones((2, 3, 3)))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"layers": []}, "layers must be a non-empty list of layer tables"),
        ({"layers": {"name": "dropout"}}, "layers must be a non-empty list of layer tables"),
        ({"layers": [{"rate": 0.5}]}, r"layers\[0\] must be a table like"),
        ({"layers": [{"name": "dropout"}, {"name": "fully_connected"}]}, r"layers\[1\]: layer 'fully_connected'"),
        ({"layers": [{"name": "dropout", "size": 3}]}, r"layers\[0\]: layer 'dropout' has no option 'size'"),
        ({"layers": [{"name": "no_such_layer"}]}, "no_such_layer"),
        ({"layers": [{"name": "dropout"}], "shortcut": "conv"}, "shortcut must be a table like"),
        ({"layers": [{"name": "dropout"}], "activation": "nope"}, "nope"),
    ],
)
def test_bad_configs_are_errors_naming_the_inner_layer(options, message):
    with pytest.raises(CorennError, match=message):
        corenn.create("layer", "residual", **options)


def test_backward_before_forward_is_an_error():
    with pytest.raises(CorennError, match="residual: backward was called before any forward"):
        residual(layers=BLOCK).backward(np.ones((2, 4)))
