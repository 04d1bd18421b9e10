"""Example arguments of conv1d's and rmsprop's kernels, for checking a backend's override against the
references (``corenn.testing.check_kernel``; see :func:`corenn.kernels.kernel`)."""

# (batch, length, channels, kernel_size, n_out, stride): batch 1, one channel, strides, a
# kernel as long as the sequence
CASES = ((1, 7, 1, 3, 2, 1), (4, 9, 3, 2, 5, 2), (2, 10, 2, 4, 3, 3), (3, 5, 2, 5, 1, 1))


def conv1d_forward(rng, run):
    for m, length, channels, size, n_out, stride in CASES:
        X, W = rng.standard_normal((m, length, channels)), rng.standard_normal((size, channels, n_out))
        yield (X, W, rng.standard_normal((1, n_out)), stride), {}


def conv1d_backward(rng, run):
    for m, length, channels, size, n_out, stride in CASES:
        positions = (length - size) // stride + 1
        dZ, X = rng.standard_normal((m, positions, n_out)), rng.standard_normal((m, length, channels))
        yield (dZ, X, rng.standard_normal((size, channels, n_out)), stride), {}


def rmsprop_step(rng, run):
    for shape in ((1,), (1, 7), (5, 3), (3, 3, 2, 4)):
        param, grad = rng.standard_normal(shape), rng.standard_normal(shape)
        square_avg = rng.standard_normal(shape) ** 2  # a mean square is never negative
        for lr, alpha, epsilon in ((0.01, 0.99, 1e-8), (0.1, 0.5, 1e-3)):
            yield (param, grad, square_avg, lr, alpha, epsilon), {}
