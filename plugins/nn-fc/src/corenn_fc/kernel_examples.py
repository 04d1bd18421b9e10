"""Example arguments of this package's kernels, for checking a backend's overrides against the
references (``corenn.testing.check_kernel``): each function yields ``(args, kwargs)`` calls of
one kernel, its arrays float64 numpy arrays drawn from ``rng`` (see :func:`corenn.kernels.kernel`)."""

import numpy as np

# (batch, n_in, n_out): batch 1, one feature, one output, and ordinary shapes
DENSE_SHAPES = ((1, 4, 3), (5, 1, 2), (6, 7, 1), (8, 5, 9))


def fully_connected_forward(rng, run):
    for m, n_in, n_out in DENSE_SHAPES:
        yield (rng.standard_normal((m, n_in)), rng.standard_normal((n_in, n_out)), rng.standard_normal((1, n_out))), {}


def fully_connected_backward(rng, run):
    for m, n_in, n_out in DENSE_SHAPES:
        dZ, X, W = rng.standard_normal((m, n_out)), rng.standard_normal((m, n_in)), rng.standard_normal((n_in, n_out))
        yield (dZ, X, W), {}
        yield (dZ, X, W.astype(np.float32)), {}  # a float32 layer fed float64 inputs: promoted products


# --- activations ------------------------------------------------------------------------------

# batch 1, one column, ordinary rows, and an NHWC batch (batch norm's activations see images)
ACTIVATION_SHAPES = ((1, 1), (1, 5), (4, 1), (6, 7), (2, 3, 3, 4))
# far from 0, where the formulas must neither overflow (exp(800), 1e150**3) nor lose the limit;
# exact zeros (relu's derivative there is taken as 0); tiny values. No larger than 1e150, so that
# the checks' norms of the results do not overflow.
HUGE_AND_EXACT = np.array([[-1e150, -1e30, -800.0, -50.0, -1e-300, 0.0, 0.0, 1e-300, 50.0, 800.0, 1e30, 1e150]])


def _activation_inputs(rng):
    for shape in ACTIVATION_SHAPES:
        yield 3 * rng.standard_normal(shape)
    yield HUGE_AND_EXACT.copy()


def sigmoid_forward(rng, run):
    for Z in _activation_inputs(rng):
        yield (Z,), {}


relu_forward = gelu_forward = sigmoid_forward


def relu_backward(rng, run):
    for Z in _activation_inputs(rng):
        yield (Z, rng.standard_normal(Z.shape)), {}


gelu_backward = relu_backward


def softmax_forward(rng, run):
    yield from sigmoid_forward(rng, run)
    # huge logits: rows whose largest entry dominates, ties, and all-equal rows
    yield (np.array([[1e150, 0.0, -1e150], [-1e150, -1e150, -1e150], [800.0, 800.0, -800.0]]),), {}


# --- batch normalisation ----------------------------------------------------------------------

# dense batches, batch 1 (a single value per channel in training: no variance estimate), one
# channel, NHWC images, and an image batch of one pixel
BATCH_NORM_SHAPES = ((6, 4), (1, 3), (5, 1), (2, 3, 4, 5), (1, 1, 1, 2))


def _batch_norm_calls(rng, trainings=(True, False)):
    """``(X, W, b, running_mean, running_var, training, momentum, epsilon)`` with and without a
    scale, in training and evaluation mode."""
    for shape in BATCH_NORM_SHAPES:
        channels = shape[-1]
        for training in trainings:
            for scaled in (True, False):
                X = 3 * rng.standard_normal(shape) + 1
                W = rng.standard_normal((1, channels)) if scaled else None
                b = rng.standard_normal((1, channels))
                running_mean, running_var = rng.standard_normal((1, channels)), rng.uniform(0.5, 2.0, (1, channels))
                yield X, W, b, running_mean, running_var, training, 0.1, 1e-5


def batch_norm_forward(rng, run):
    for args in _batch_norm_calls(rng):
        yield args, {}


def batch_norm_backward(rng, run):
    from corenn_fc.normalization import batch_norm_forward as forward

    for args in _batch_norm_calls(rng):
        X, training, epsilon = args[0], args[5], args[7]
        _, saved, _, _ = run(forward, *args)
        yield (rng.standard_normal(X.shape), saved, training, epsilon), {}


class TwinRanks:
    """A stand-in for a data-parallel run's process group (see the hook ``corenn_process_group``):
    two ranks that hold the same share of the batch, so every sum over the ranks is twice this
    one's. Works on numpy arrays and torch tensors alike."""

    def all_reduce_sum(self, arrays, scalars=()):
        for array in arrays:
            array *= 2
        return [2.0 * float(value) for value in scalars]


def sync_batch_norm_forward(rng, run):
    for X, W, b, running_mean, running_var, _, momentum, epsilon in _batch_norm_calls(rng, trainings=(True,)):
        yield (X, W, b, running_mean, running_var, momentum, epsilon, TwinRanks()), {}


def sync_batch_norm_backward(rng, run):
    from corenn_fc.normalization import sync_batch_norm_forward as forward

    for (X, *args), _ in sync_batch_norm_forward(rng, run):
        _, saved, _, _ = run(forward, X, *args)
        yield (rng.standard_normal(X.shape), saved, TwinRanks()), {}


# --- dropout ----------------------------------------------------------------------------------


def dropout_mask(rng, run):
    for shape, rate in (((1, 1), 0.5), ((4, 5), 0.25), ((2, 3, 3, 4), 0.9), ((6, 7), 0.0)):
        # a generator of its own, made alike for the reference's call and the override's
        yield (rng.standard_normal(shape), rate, np.random.default_rng(int(rng.integers(2**32)))), {}
