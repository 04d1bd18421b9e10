"""The sequential model: building from a config, seeding, parameter files, and shape errors."""

import numpy as np
import pytest

from corenn.errors import ConfigError, CorruptFileError, ShapeError
from corenn.files import save_arrays
from corenn.nn.model import Sequential, check_finite_parameters
from corenn.run.config import ComponentConfig


def layer_configs(hidden=8, last_n_out="auto"):
    return [
        ComponentConfig("fully_connected", {"n_out": hidden, "activation": "relu"}),
        ComponentConfig("fully_connected", {"n_out": last_n_out, "activation": "softmax"}),
    ]


def model(seed=0, hidden=8, n_features=4, n_classes=3, dtype="float64"):
    return Sequential.from_config(layer_configs(hidden), n_classes=n_classes, seed=seed).initialize(
        (n_features,), dtype
    )


def test_auto_n_out_becomes_the_number_of_classes():
    built = model(n_classes=5)
    assert [layer.n_out for layer in built.layers] == [8, 5]
    assert built.layer_names == ["fully_connected", "fully_connected"]
    assert built.named_parameters()["1.W"].shape == (8, 5)
    assert built.predict_proba(np.ones((6, 4))).shape == (6, 5)


def test_an_explicit_last_n_out_must_match_the_number_of_classes():
    with pytest.raises(ConfigError) as info:
        Sequential.from_config(layer_configs(last_n_out=5), n_classes=3)
    message = str(info.value)
    assert "layers[1].n_out = 5" in message and "3 classes" in message and '"auto"' in message
    matching = Sequential.from_config(layer_configs(last_n_out=3), n_classes=3)
    assert [layer.n_out for layer in matching.layers] == [8, 3]


def test_component_errors_name_the_layer_index():
    configs = layer_configs() + [
        ComponentConfig("fully_connected", {"n_out": "auto", "activation": "no_such_activation"})
    ]
    configs[1] = ComponentConfig("fully_connected", {"n_out": 4, "activation": "relu"})
    with pytest.raises(ConfigError, match=r"^layers\[2\]: .*unknown activation 'no_such_activation'"):
        Sequential.from_config(configs, n_classes=3)


def test_parameters_are_made_by_initialize_in_the_requested_dtype():
    built = model(dtype="float32")
    assert list(built.named_parameters()) == ["0.W", "0.b", "1.W", "1.b"]
    assert all(value.dtype == np.float32 for value in built.named_parameters().values())
    assert built.parameter_count() == 4 * 8 + 8 + 8 * 3 + 3


def test_same_seed_gives_the_same_weights_and_another_seed_does_not():
    first, again, other = model(seed=7), model(seed=7), model(seed=8)
    for name, value in first.named_parameters().items():
        np.testing.assert_array_equal(value, again.named_parameters()[name])
    assert not np.array_equal(first.named_parameters()["0.W"], other.named_parameters()["0.W"])


def test_layers_draw_from_different_streams():
    built = model(hidden=3, n_features=3, n_classes=3)
    W0, W1 = built.named_parameters()["0.W"], built.named_parameters()["1.W"]
    assert W0.shape == W1.shape and not np.array_equal(W0, W1)


def test_predict_is_the_argmax_of_the_probabilities():
    built = model()
    X = np.random.default_rng(0).standard_normal((2000, 4))
    probabilities = built.predict_proba(X, batch_size=300)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(built.predict(X, batch_size=300), probabilities.argmax(axis=1))
    np.testing.assert_array_equal(probabilities, built.forward(X))


def test_save_and_load_parameters_round_trip(tmp_path):
    path = tmp_path / "parameters.npz"
    saved = model(seed=1)
    saved.save_parameters(path)
    loaded = model(seed=2).load_parameters(path)
    for name, value in saved.named_parameters().items():
        np.testing.assert_array_equal(loaded.named_parameters()[name], value)
    X = np.random.default_rng(3).standard_normal((5, 4))
    np.testing.assert_array_equal(loaded.forward(X), saved.forward(X))
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file may stay behind"


def test_a_file_whose_shapes_do_not_fit_names_the_parameter_and_both_shapes(tmp_path):
    path = tmp_path / "parameters.npz"
    model(hidden=8).save_parameters(path)
    target = model(hidden=16, seed=5)
    before = {name: value.copy() for name, value in target.named_parameters().items()}
    with pytest.raises(CorruptFileError) as info:
        target.load_parameters(path)
    message = str(info.value)
    assert "0.W" in message and "layers[0] (fully_connected)" in message
    assert "(4, 8)" in message and "(4, 16)" in message
    for name, value in target.named_parameters().items():
        np.testing.assert_array_equal(value, before[name], err_msg="a rejected file must change nothing")


def test_a_file_with_missing_or_extra_parameters_is_rejected(tmp_path):
    path = tmp_path / "parameters.npz"
    arrays = model().named_parameters()
    save_arrays(path, {name: value for name, value in arrays.items() if name != "1.b"} | {"2.W": np.ones((3, 3))})
    with pytest.raises(CorruptFileError, match=r"missing \['1.b'\], unexpected \['2.W'\]"):
        model().load_parameters(path)


def test_integer_parameters_are_rejected(tmp_path):
    path = tmp_path / "parameters.npz"
    arrays = {name: value.astype(np.int64) for name, value in model().named_parameters().items()}
    save_arrays(path, arrays)
    with pytest.raises(CorruptFileError, match="dtype int64, expected floats"):
        model().load_parameters(path)


@pytest.mark.parametrize("cut", [0, 10, 0.5, -40])
def test_truncated_parameter_files_are_corrupt_file_errors(tmp_path, cut):
    path = tmp_path / "parameters.npz"
    model().save_parameters(path)
    data = path.read_bytes()
    keep = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) + cut)
    path.write_bytes(data[:keep])
    with pytest.raises(CorruptFileError, match="parameters.npz"):
        model().load_parameters(path)


def test_a_flipped_byte_inside_an_array_is_caught_by_the_zip_checksum(tmp_path):
    path = tmp_path / "parameters.npz"
    model().save_parameters(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        model().load_parameters(path)


def test_garbage_and_missing_files_are_corrupt_file_errors(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(CorruptFileError, match="garbage.npz"):
        model().load_parameters(garbage)
    with pytest.raises(CorruptFileError, match="does not exist"):
        model().load_parameters(tmp_path / "absent.npz")


class _LeavesAMarker:
    """Unpickling this object would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_parameter_file_holding_a_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "parameters.npz"
    arrays = model().named_parameters()
    poisoned = np.empty(1, dtype=object)
    poisoned[0] = _LeavesAMarker(marker)
    np.savez(path, **(arrays | {"0.W": poisoned}))  # numpy pickles object arrays when saving
    assert not marker.exists()
    with pytest.raises(CorruptFileError, match="pickled objects"):
        model().load_parameters(path)
    assert not marker.exists(), "loading a parameter file ran code from it"
    # The payload is real: an unsafe load does run it.
    with np.load(path, allow_pickle=True) as archive:
        archive["0.W"]
    assert marker.exists()


def test_input_that_does_not_fit_names_the_layer_and_both_shapes():
    built = model()
    with pytest.raises(ShapeError) as info:
        built.forward(np.ones((2, 5)))
    message = str(info.value)
    assert message.startswith("layers[0] (fully_connected):")
    assert "(m, 4)" in message and "(2, 5)" in message


def test_shape_error_in_a_later_layer_names_that_layer():
    built = model()
    built.layers[1].parameters["W"] = np.ones((6, 3))  # no longer fits the first layer's 8 outputs
    with pytest.raises(ShapeError) as info:
        built.forward(np.ones((2, 4)))
    message = str(info.value)
    assert message.startswith("layers[1] (fully_connected):")
    assert "(m, 6)" in message and "(2, 8)" in message


def test_image_shaped_input_to_a_dense_layer_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"layers\[0\] \(fully_connected\):.*\(3, 2, 2\)"):
        model().forward(np.ones((3, 2, 2)))


def test_check_finite_parameters_names_the_bad_parameter():
    built = model()
    check_finite_parameters(built)
    built.named_parameters()["1.b"][0, 1] = np.nan
    with pytest.raises(Exception, match="parameter 1.b holds NaN"):
        check_finite_parameters(built)
