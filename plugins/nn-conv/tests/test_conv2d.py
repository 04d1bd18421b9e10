"""Conv2D: finite-difference gradients (numpy's kernels and the references), the protocol, both
im2col layouts, dtypes and errors."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.kernels import reference_kernels
from corenn.nn.geometry import window_geometry
from corenn.testing import check_layer_conformance, check_layer_gradients, gradcheck

from corenn_conv import patches as patches_module
from corenn_conv.conv2d import Conv2D, conv2d_backward, conv2d_forward
from corenn_conv.patches import PatchMatrix

TOLERANCE = 1e-6


def make_conv(seed=0, **options):
    layer = Conv2D(**options)
    layer.rng = np.random.default_rng(seed)
    return layer


@pytest.mark.parametrize(
    "options, input_shape",
    [
        (dict(n_out=4, kernel_shape=(3, 3)), (2, 7, 7, 3)),
        (dict(n_out=3, kernel_shape=(3, 5), stride=2), (2, 9, 8, 2)),
        (dict(n_out=2, kernel_shape=(2, 2)), (2, 5, 6, 2)),  # even kernel: asymmetric "same"
        (dict(n_out=3, kernel_shape=(5, 5), pad="valid"), (2, 7, 6, 1)),
        (dict(n_out=2, kernel_shape=(3, 2), stride=(2, 3), pad=1), (3, 7, 8, 2)),
        (dict(n_out=2, kernel_shape=(4, 4), stride=3, pad=(1, 2, 0, 3)), (2, 8, 7, 2)),
        (dict(n_out=3, kernel_shape=1), (2, 4, 4, 5)),
        (dict(n_out=2, kernel_shape=(3, 3), stride=3, pad="same"), (2, 7, 7, 1)),
        (dict(n_out=4, kernel_shape=(3, 3), activation="relu"), (2, 6, 6, 2)),
        (dict(n_out=3, kernel_shape=(2, 3), activation="tanh", pad="valid"), (2, 5, 5, 3)),
    ],
)
@pytest.mark.parametrize("references", [False, True], ids=["numpy", "references"])
def test_gradients_match_finite_differences(options, input_shape, references):
    X = np.random.default_rng(1).standard_normal(input_shape)
    with reference_kernels(references):
        errors = check_layer_gradients(make_conv(**options), X)
    assert set(errors) == {"X", "W", "b"}
    assert max(errors.values()) <= TOLERANCE, errors


def test_gradcheck_by_name_uses_the_example_input_shape():
    report = gradcheck("layer", "conv2d", {"n_out": 3, "kernel_shape": [3, 3], "activation": "relu"})
    assert report.input_shape == Conv2D.example_input_shape
    assert report.passed, report.errors


@pytest.mark.parametrize("pad", ["same", "valid", 1])
def test_conformance(pad):
    check_layer_conformance(lambda: make_conv(n_out=3, kernel_shape=(3, 3), pad=pad), (2, 6, 5, 2))


def test_created_through_the_registry_with_toml_style_lists():
    layer = corenn.create("layer", "conv2d", n_out=6, kernel_shape=[5, 5], activation="relu", pad="same")
    assert isinstance(layer, Conv2D)
    assert layer.kernel_shape == (5, 5)
    assert layer.n_out == 6 and layer.n_in is None


def test_parameter_shapes_and_lazy_initialisation():
    layer = make_conv(n_out=5, kernel_shape=(3, 2))
    assert not layer.parameters
    Y = layer.forward(np.zeros((4, 6, 7, 3)))
    assert layer.parameters["W"].shape == (3, 2, 3, 5)
    assert layer.parameters["b"].shape == (1, 5)
    assert not layer.parameters["b"].any()
    assert layer.n_in == 3
    assert Y.shape == (4, 6, 6, 5)  # "same": (3-1)//2 = 1 row each side keeps H; (2-1)//2 = 0 columns shrinks W by one


@pytest.mark.parametrize(
    "input_hw, kernel, stride, pad, expected",
    [
        ((16, 16), (3, 3), 1, "same", (16, 16)),
        ((16, 16), (5, 5), 2, "same", (8, 8)),  # the course's "same": 2 zeros each side at any stride
        ((16, 16), (3, 3), 3, "same", (6, 6)),
        ((16, 16), (4, 2), 1, "same", (15, 15)),  # even kernels pad (1, 0) and shrink by one
        ((28, 28), (5, 5), 1, "valid", (24, 24)),
        ((14, 14), (5, 5), 1, "valid", (10, 10)),
        ((12, 12), (3, 5), 4, "valid", (3, 2)),
        ((7, 9), (3, 3), 2, 1, (4, 5)),
    ],
)
def test_output_size(input_hw, kernel, stride, pad, expected):
    layer = make_conv(n_out=2, kernel_shape=kernel, stride=stride, pad=pad)
    assert layer.forward(np.zeros((1, *input_hw, 1))).shape == (1, *expected, 2)


def test_forward_is_a_cross_correlation_on_a_hand_checked_example():
    X = np.arange(16.0).reshape(1, 4, 4, 1)
    layer = make_conv(n_out=1, kernel_shape=(2, 2), pad="valid")
    layer.forward(X)
    layer.parameters["W"][...] = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    layer.parameters["b"][...] = 0.5
    Y = layer.forward(X)[0, :, :, 0]
    # top-left window [[0, 1], [4, 5]]: 0*1 + 1*2 + 4*3 + 5*4 + 0.5 (no kernel flip)
    assert Y[0, 0] == 34.5
    expected = [[X[0, i : i + 2, j : j + 2, 0].ravel() @ [1, 2, 3, 4] + 0.5 for j in range(3)] for i in range(3)]
    np.testing.assert_array_equal(Y, expected)


def test_the_reference_is_the_formula_pixel_by_pixel():
    """Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o], summed here
    one output pixel at a time, on an asymmetrically padded, strided, non-square example."""
    rng = np.random.default_rng(2)
    X, W, b = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4)), rng.standard_normal((1, 4))
    geometry = window_geometry(X.shape, (3, 2), (2, 3), (1, 0, 2, 1), "test")
    Z, _ = conv2d_forward.reference(X, W, b, geometry)
    Xp = np.pad(X, ((0, 0), (1, 0), (2, 1), (0, 0)))
    (out_rows, out_cols), (sh, sw) = geometry.output_size, geometry.stride
    assert Z.shape == (2, out_rows, out_cols, 4)
    for y in range(out_rows):
        for x in range(out_cols):
            window = Xp[:, y * sh : y * sh + 3, x * sw : x * sw + 2, :]
            np.testing.assert_allclose(Z[:, y, x, :], b[0] + np.einsum("nijc,ijco->no", window, W), rtol=1e-12)


def test_the_references_leave_their_arguments_as_they_were():
    rng = np.random.default_rng(3)
    X, W, b = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal((1, 3))
    geometry = window_geometry(X.shape, (3, 3), (1, 1), "same", "test")
    arguments = (X, W, b)
    copies = [array.copy() for array in arguments]
    Z, saved = conv2d_forward.reference(X, W, b, geometry)
    dZ = rng.standard_normal(Z.shape)
    dZ_copy = dZ.copy()
    conv2d_backward.reference(dZ, W, saved)
    for array, copy in zip((*arguments, dZ), (*copies, dZ_copy), strict=True):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize(
    "input_shape, kernel, stride, pad",
    [
        ((3, 9, 9, 1), (3, 3), (1, 1), "same"),
        ((3, 9, 9, 7), (3, 3), (1, 1), "same"),
        ((2, 11, 10, 2), (3, 4), (2, 3), (1, 0, 2, 1)),
        ((2, 8, 8, 3), (5, 5), (1, 1), "valid"),
    ],
)
def test_both_patch_layouts_give_the_same_products(input_shape, kernel, stride, pad):
    """im2col has two memory layouts (rows / channels first) for gather, and col2im two ways
    (rows, or flat shifts at stride 1); whichever the heuristic picks, the results must agree."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal(input_shape)
    geometry = window_geometry(input_shape, kernel, stride, pad, "test")
    n_out = 4
    W = rng.standard_normal((kernel[0] * kernel[1] * input_shape[3], n_out))
    results = []
    for gather_first in (False, True):
        for scatter_flat in (False, True) if geometry.stride == (1, 1) else (False,):
            patches = PatchMatrix(geometry)
            patches.channels_first, patches.scatter_flat = gather_first, scatter_flat
            P = patches.gather(X)
            dZ = rng.standard_normal((P.shape[0], n_out)) if not results else results[0][2]
            results.append((np.array(P), patches.input_gradient(dZ, W), dZ))
    for P, dX, _ in results[1:]:
        np.testing.assert_array_equal(P, results[0][0])
        np.testing.assert_allclose(dX, results[0][1], rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 8, 8, 2))
    layer64 = make_conv(n_out=4, kernel_shape=(3, 3), activation="relu")
    Y64 = layer64.forward(X)
    layer32 = make_conv(n_out=4, kernel_shape=(3, 3), activation="relu")
    Y32 = layer32.forward(X.astype(np.float32))
    assert Y32.dtype == np.float32 and layer32.parameters["W"].dtype == np.float32
    np.testing.assert_allclose(Y32, Y64, rtol=1e-4, atol=1e-5)
    G = rng.standard_normal(Y64.shape)
    dX64, dX32 = layer64.backward(G), layer32.backward(G.astype(np.float32))
    assert dX32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer32.gradients.values())
    np.testing.assert_allclose(dX32, dX64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer32.gradients["W"], layer64.gradients["W"], rtol=1e-4, atol=1e-4)


def test_integer_input_is_computed_in_float64():
    layer = make_conv(n_out=2, kernel_shape=(3, 3))
    assert layer.forward(np.ones((1, 4, 4, 1), dtype=np.uint8)).dtype == np.float64


def test_a_skipped_input_gradient_still_gives_the_parameter_gradients():
    X = np.random.default_rng(5).standard_normal((2, 6, 6, 1))
    full, first_layer = make_conv(n_out=3, kernel_shape=(3, 3)), make_conv(n_out=3, kernel_shape=(3, 3))
    first_layer.needs_input_gradient = False
    G = np.random.default_rng(6).standard_normal(full.forward(X).shape)
    first_layer.forward(X)
    assert full.backward(G) is not None
    assert first_layer.backward(G) is None
    for key in ("W", "b"):
        np.testing.assert_array_equal(first_layer.gradients[key], full.gradients[key])


def test_same_seed_same_weights():
    first, second = make_conv(seed=7, n_out=3, kernel_shape=3), make_conv(seed=7, n_out=3, kernel_shape=3)
    X = np.zeros((1, 5, 5, 2))
    first.forward(X)
    second.forward(X)
    np.testing.assert_array_equal(first.parameters["W"], second.parameters["W"])


def test_weight_init_is_used_with_the_activation_gain():
    layer = make_conv(n_out=8, kernel_shape=(5, 5), activation="relu", weight_init="he_uniform")
    layer.forward(np.zeros((1, 8, 8, 4)))
    bound = np.sqrt(2.0) * np.sqrt(3.0 / (5 * 5 * 4))
    W = layer.parameters["W"]
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.9 * bound


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, fragment",
    [
        (dict(n_out=0, kernel_shape=3), "n_out"),
        (dict(n_out=2.5, kernel_shape=3), "n_out"),
        (dict(n_out=2, kernel_shape=0), "kernel_shape"),
        (dict(n_out=2, kernel_shape=(3,)), "kernel_shape"),
        (dict(n_out=2, kernel_shape="3x3"), "kernel_shape"),
        (dict(n_out=2, kernel_shape=3, stride=0), "stride"),
        (dict(n_out=2, kernel_shape=3, stride=-1), "stride"),
        (dict(n_out=2, kernel_shape=3, stride=(1, 0)), "stride"),
        (dict(n_out=2, kernel_shape=3, pad="full"), "pad"),
        (dict(n_out=2, kernel_shape=3, pad=-1), "pad"),
        (dict(n_out=2, kernel_shape=3, pad=(1, 2, 3)), "pad"),
        (dict(n_out=2, kernel_shape=3, activation="nope"), "nope"),
        (dict(n_out=2, kernel_shape=3, weight_init="nope"), "nope"),
    ],
)
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        corenn.create("layer", "conv2d", **options)


def test_wrong_rank_names_the_layer_and_the_shape():
    with pytest.raises(ShapeError, match=r"conv2d.*4-d NHWC.*\(2, 7, 7\)"):
        make_conv(n_out=2, kernel_shape=3).forward(np.zeros((2, 7, 7)))


def test_kernel_larger_than_the_padded_input():
    layer = make_conv(n_out=2, kernel_shape=(5, 5), pad="valid")
    with pytest.raises(ShapeError, match=r"conv2d.*kernel 5x5 is larger than the padded input 3x4.*\(2, 3, 4, 1\)"):
        layer.forward(np.zeros((2, 3, 4, 1)))


def test_padding_can_make_a_small_input_fit():
    layer = make_conv(n_out=2, kernel_shape=(5, 5), pad=1)
    assert layer.forward(np.zeros((1, 3, 3, 1))).shape == (1, 1, 1, 2)


def test_empty_input_is_refused():
    with pytest.raises(ShapeError, match=r"empty input of shape \(2, 0, 5, 1\)"):
        make_conv(n_out=2, kernel_shape=3).forward(np.zeros((2, 0, 5, 1)))


def test_channel_count_must_match_the_initialisation():
    layer = make_conv(n_out=2, kernel_shape=3)
    layer.forward(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ShapeError, match=r"conv2d.*3 input channels.*\(1, 5, 5, 4\).*4 channels"):
        layer.forward(np.zeros((1, 5, 5, 4)))


def test_backward_before_forward_and_with_a_wrong_shape():
    layer = make_conv(n_out=2, kernel_shape=3)
    with pytest.raises(CorennError, match="before any forward"):
        layer.backward(np.zeros((1, 5, 5, 2)))
    layer.forward(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ShapeError, match=r"\(1, 5, 5, 2\).*\(1, 5, 4, 2\)"):
        layer.backward(np.zeros((1, 5, 4, 2)))


@pytest.mark.parametrize("channels", [1, 24])  # the columns and the rows layouts of the patch matrix
def test_the_reused_workspace_gives_what_fresh_memory_gives(channels):
    """numpy's P and dP live in two block buffers the layer keeps from step to step in its
    scratch; results are those of a layer whose every array is new, step after step, and the
    buffers are not reallocated."""
    rng = np.random.default_rng(6)
    reused, fresh = make_conv(n_out=5, kernel_shape=3), make_conv(n_out=5, kernel_shape=3)
    buffers = set()
    for _ in range(3):
        X = rng.standard_normal((4, 9, 8, channels))
        G = rng.standard_normal((4, 9, 8, 5))
        Y = reused.forward(X)
        dX = reused.backward(G)
        buffers.add((id(reused._scratch["patches"]._buffer), id(reused._scratch["patch_gradients"]._buffer)))
        fresh._scratch = {}  # new, empty workspaces every step
        np.testing.assert_array_equal(Y, fresh.forward(X))
        np.testing.assert_array_equal(dX, fresh.backward(G))
        np.testing.assert_array_equal(reused.gradients["W"], fresh.gradients["W"])
    assert len(buffers) == 1


def test_a_second_backward_after_one_forward_gives_the_same_gradients():
    """The backward gathers its patches again from the saved input, so it can run twice, as
    the reference can."""
    layer = make_conv(n_out=2, kernel_shape=3)
    Y = layer.forward(np.random.default_rng(7).standard_normal((2, 5, 5, 3)))
    dX = layer.backward(np.ones_like(Y))
    dW = layer.gradients["W"].copy()
    np.testing.assert_array_equal(layer.backward(np.ones_like(Y)), dX)
    np.testing.assert_array_equal(layer.gradients["W"], dW)


@pytest.mark.parametrize("batch", [1, 7, 300])
def test_blocks_of_samples_cover_the_batch_and_give_the_whole_batch_products(batch, monkeypatch):
    """The patch matrix is gathered block of samples by block; with blocks of a few samples
    (the last one shorter) the layer gives what one block of the whole batch gives."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((batch, 6, 5, 3))
    G = rng.standard_normal((batch, 6, 5, 4))
    results = []
    for block_bytes in (2**40, 3 * 6 * 5 * 27 * 8):  # the whole batch; three samples a block
        monkeypatch.setattr(patches_module, "PATCH_BLOCK_BYTES", block_bytes)
        layer = make_conv(n_out=4, kernel_shape=3)
        results.append((layer.forward(X), layer.backward(G), layer.gradients["W"], layer.gradients["b"]))
    geometry = window_geometry(X.shape, (3, 3), (1, 1), "same", "test")
    blocks = patches_module.sample_blocks(geometry, X.itemsize)
    assert blocks[0][0] == 0 and blocks[-1][1] == batch and len(blocks) == -(-batch // 3)
    assert all(stop == next_start for (_, stop), (next_start, _) in zip(blocks, blocks[1:], strict=False))
    for whole, blocked in zip(*results, strict=True):
        np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-12)


def test_the_workspace_holds_one_block_whatever_the_batch():
    """An evaluation on large batches must not leave training holding their memory: the
    buffers hold one block of samples' patches, about PATCH_BLOCK_BYTES (col2im's flat layout
    spreads a block's dP over padded images: 6 x 6 of them for 4 x 4 output pixels here)."""
    layer = make_conv(n_out=2, kernel_shape=3)
    Y = layer.forward(np.zeros((4096, 6, 6, 3)))  # an evaluation batch
    layer.backward(np.ones_like(Y))
    block_values = patches_module.PATCH_BLOCK_BYTES // 8
    assert layer._scratch["patches"]._buffer.size <= block_values
    assert layer._scratch["patch_gradients"]._buffer.size <= block_values * (6 * 6) / (4 * 4)


def test_a_compute_dtype_runs_the_products_in_it_and_keeps_the_runs_dtype():
    """conv2d is a product layer on numpy too: float32 products of a float64 run give float64
    results, those of a float32 layer to rounding; bfloat16 (mixed precision) is torch's."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((2, 6, 6, 3))
    full, single = make_conv(n_out=4, kernel_shape=3), make_conv(n_out=4, kernel_shape=3)
    single.compute_dtype = "float32"
    assert single.compute_dtype == np.float32 and full.compute_dtype is None
    Y_full, Y_single = full.forward(X), single.forward(X)
    assert Y_single.dtype == np.float64 and single.parameters["W"].dtype == np.float64
    assert single.cache["convolution"].X.dtype == np.float32
    np.testing.assert_allclose(Y_single, Y_full, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(Y_single, Y_full)
    G = rng.standard_normal(Y_full.shape)
    dX_full, dX_single = full.backward(G), single.backward(G)
    assert dX_single.dtype == np.float64
    np.testing.assert_allclose(dX_single, dX_full, rtol=1e-5, atol=1e-5)
    for key in ("W", "b"):
        assert single.gradients[key].dtype == np.float64
        np.testing.assert_allclose(single.gradients[key], full.gradients[key], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(single.gradients["b"], full.gradients["b"])  # summed in the run's dtype
    with pytest.raises(
        ConfigError, match=r"conv2d: compute_dtype must be .*bfloat16 \(mixed precision\) needs backend torch"
    ):
        single.compute_dtype = "bfloat16"


def test_a_second_backward_is_allowed_when_the_first_skipped_the_input_gradient():
    """Only dP overwrites the patch matrix; without it, P is still there for dW."""
    layer = make_conv(n_out=2, kernel_shape=3)
    layer.needs_input_gradient = False
    Y = layer.forward(np.random.default_rng(8).standard_normal((2, 5, 5, 3)))
    layer.backward(np.ones_like(Y))
    first = layer.gradients["W"].copy()
    assert layer.backward(np.ones_like(Y)) is None
    np.testing.assert_array_equal(layer.gradients["W"], first)


def test_a_batch_of_no_samples_gives_the_references_empty_and_zero_gradients():
    """With no samples there is no block of samples: the weight gradient is zeros, as the
    reference's sums over nothing are (it was None, and the backward failed)."""
    from corenn_conv import fast
    from corenn_conv.conv2d import conv2d_backward, conv2d_forward

    X, W, b = np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4)), np.zeros((1, 4))
    geometry = window_geometry(X.shape, (3, 3), (1, 1), "same", "test")
    Z, saved = fast.conv2d_forward_im2col(X, W, b, geometry)
    Z_reference, saved_reference = conv2d_forward.reference(X, W, b, geometry)
    assert Z.shape == Z_reference.shape == (0, 5, 5, 4)
    dZ = np.zeros(Z.shape)
    for ours, reference in zip(
        fast.conv2d_backward_im2col(dZ, W, saved), conv2d_backward.reference(dZ, W, saved_reference), strict=True
    ):
        np.testing.assert_array_equal(ours, reference)
