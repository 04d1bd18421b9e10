"""The patch-whitening layer, a convolution whose filters are fitted to the data, not trained:
the math that fits them, its kernel, and the layer.

A ``k x k`` patch of an NHWC image, all channels, flattened in the order ``(i, j, c)`` of a
conv kernel ``(kh, kw, C, n_out)``, is a vector of length ``d = k * k * C``. Natural images'
neighbouring pixels and channels are strongly correlated, so these vectors are too. With
``S = P^T P / n_patches`` their (uncentred, as airbench computes it) second-moment matrix
(:func:`patch_whitening_covariance`) and ``S = V diag(lam) V^T`` its eigendecomposition, the
filters ``V[:, i] / sqrt(lam_i + epsilon)`` (:func:`whitening_filters`) map each patch to ``d``
outputs that are decorrelated and of (almost) unit variance over the data: the whitened patch.
``epsilon`` keeps the directions the data barely varies in (noise) from being blown up.

``S`` is computed where the data is (a kernel: numpy's and torch's run their own faster
versions); the filters are taken from that small ``d x d`` matrix by numpy on every backend,
so given the same data all get the same filters, to rounding. Eigenvectors are defined only up
to sign; each is flipped so that its largest-magnitude entry is positive, which makes the
filters a function of the data alone.
"""

import numbers
from collections import OrderedDict

import numpy as np

from corenn.backend import array_namespace, as_dtype, device_of
from corenn.errors import ConfigError, CorennError, DataError, ShapeError
from corenn.kernels import kernel
from corenn.nn.geometry import window_geometry
from corenn.nn.layers import ProductLayer, build_activation

from corenn_conv.conv2d import conv2d_backward, conv2d_forward


def checked_kernel_size(kernel_size, layer):
    """``kernel_size`` as a positive int (the patches are square)."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) or kernel_size < 1:
        raise ConfigError(
            f"{layer}: kernel_size must be an integer >= 1 (the side of a square patch), got {kernel_size!r}"
        )
    return int(kernel_size)


def checked_epsilon(epsilon, layer):
    """``epsilon`` as a finite float > 0."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0.0 < epsilon < float("inf"):
        raise ConfigError(
            f"{layer}: epsilon must be a finite number > 0 (added to each eigenvalue before its "
            f"square root), got {epsilon!r}"
        )
    return float(epsilon)


def check_patch_input(shape, kernel_size, layer):
    """Raise ShapeError unless ``shape`` is a non-empty NHWC batch with room for one patch."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 4 or 0 in shape:
        raise ShapeError(f"{layer} expects a non-empty 4-d NHWC input (m, H, W, C), got shape {shape}")
    if shape[1] < kernel_size or shape[2] < kernel_size:
        raise ShapeError(
            f"{layer}: images of {shape[1]}x{shape[2]} pixels (input shape {shape}) are smaller than "
            f"one {kernel_size}x{kernel_size} patch"
        )


@kernel(examples="corenn_conv.kernel_examples:patch_whitening_covariance")
def patch_whitening_covariance(X, kernel_size):
    """``S = P^T P / n_patches`` (float64, ``(d, d)``): the second-moment matrix of the ``k x k``
    patches of the NHWC batch ``X``, ``P`` holding every patch as a row of ``d = k * k * C``
    values in the kernel's ``(i, j, c)`` order.

    The patches are those the layer's valid, stride-1 convolution sees. Column block ``(i, j)``
    of ``P`` is the entry at offset ``(i, j)`` of every patch, ``X[:, rows, cols, :]`` as
    ``(n_patches, C)`` rows.
    """
    xp = array_namespace(X)
    geometry = window_geometry(X.shape, (kernel_size, kernel_size), (1, 1), "valid", "patch_whitening")
    X = as_dtype(X, xp.float64)
    channels = X.shape[3]
    offset_blocks = [X[:, rows, cols, :].reshape(-1, channels) for _, _, rows, cols in geometry.window_offsets()]
    P = xp.concat(offset_blocks, axis=1)
    return P.T @ P / P.shape[0]


def whitening_filters(patches_covariance, kernel_size, channels, epsilon):
    """The ``(k, k, C, 2d)`` filters that whiten patches with this second-moment matrix.

    Columns ``0 .. d-1`` are ``V[:, i] / sqrt(lam_i + epsilon)`` with the eigenvalues in
    descending order (the direction of most variance first), each eigenvector's sign chosen so
    that its largest-magnitude entry is positive; columns ``d .. 2d-1`` are the same filters
    negated, so that a following ReLU-like activation keeps both signs of each whitened
    component (airbench's first layer). Eigenvalues below zero can only be rounding and count
    as zero.
    """
    covariance = np.asarray(patches_covariance, dtype=np.float64)
    d = kernel_size * kernel_size * channels
    if covariance.shape != (d, d):
        raise ShapeError(
            f"whitening_filters: a {kernel_size}x{kernel_size} patch of {channels} channels has "
            f"{d} entries, so the covariance must be ({d}, {d}), got shape {covariance.shape}"
        )
    if not np.all(np.isfinite(covariance)):
        raise DataError(
            "whitening_filters: the patch covariance holds NaN or infinite values; the data the filters are fitted to must be finite"
        )
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    largest = np.argmax(np.abs(eigenvectors), axis=0)
    eigenvectors = eigenvectors * np.sign(eigenvectors[largest, np.arange(d)])
    scale = 1.0 / np.sqrt(np.clip(eigenvalues, 0.0, None) + epsilon)
    positive = (eigenvectors * scale).reshape(kernel_size, kernel_size, channels, d)
    return np.concatenate([positive, -positive], axis=-1)


class PatchWhitening(ProductLayer):
    """``Y = activation(Z)``, ``Z`` the valid (no padding, stride 1) convolution of the NHWC
    ``X`` with frozen whitening filters ``W`` ``(k, k, C, 2d)``, ``d = k * k * C``, plus ``b``.

    Why: airbench's first layer. Whitening the ``k x k`` patches of the images makes the first
    layer's outputs decorrelated, with unit variance, so the network does not have to spend its
    first epochs undoing the strong correlations between neighbouring pixels and colours; that
    speeds early training a lot. The filters are frozen because a high learning rate would
    soon undo the whitening.

    :meth:`fit` computes the filters once from a batch (see the module): the eigenvectors of
    the patches' second-moment matrix (:func:`patch_whitening_covariance`, float64, computed
    where the data is) scaled by ``1 / sqrt(eigenvalue + epsilon)``, then the same ``d``
    filters negated (:func:`whitening_filters`, on every backend, so all fit the same filters
    from the same data). They live in
    ``buffers["W"]`` (saved and loaded with the parameters, never trained); ``parameters``
    holds only the bias ``b`` ``(1, 2d)``, zeros at first, which is trained. ``backward`` fills
    ``gradients["b"]`` and returns dL/dX.

    A model fits the layer with :meth:`corenn.nn.model.Sequential.fit_to_data` (the trainer does so
    on the first 5,000 training images of a fresh run); a resumed run loads the filters instead.
    ``forward`` before either raises CorennError. :meth:`allocate` makes ``W`` (zeros: not
    fitted yet) and ``b`` for an input's shape without fitting, for
    :meth:`~corenn.nn.model.Sequential.initialize`, whose zero sample has nothing to fit to.

    Options: ``kernel_size`` (default 2, an int >= 1: the side of the square patches),
    ``epsilon`` (default 5e-4, > 0: added to each eigenvalue, so that directions of almost no
    variance are not amplified into noise), ``activation`` (default ``"linear"``).

    ``needs_input_gradient`` (default True) may be set to False when this is the network's
    first layer: ``backward`` then fills ``gradients`` only and returns ``None``.

    Forward and backward are the convolution's kernels (:func:`corenn_conv.conv2d.conv2d_forward`,
    :func:`~corenn_conv.conv2d.conv2d_backward` without ``dW``: the filters are frozen). ``compute_dtype`` (default
    ``None``: the input's dtype) may be ``"bfloat16"`` on torch for mixed precision: the
    convolution and dL/dX run on bfloat16 copies of the input and the filters (which are
    fitted, and kept, in the run's dtype); Z, dL/dX and db come back in the run's dtype.
    """

    name = "patch_whitening"
    example_input_shape = (3, 5, 5, 2)

    def __init__(self, kernel_size=2, epsilon=5e-4, activation="linear"):
        super().__init__()
        self.kernel_size = checked_kernel_size(kernel_size, self.name)
        self.epsilon = checked_epsilon(epsilon, self.name)
        self.activation = build_activation(activation)
        self.needs_input_gradient = True
        self.buffers = OrderedDict()
        self._fitted = False
        self._scratch = {}  # the kernels' memory from step to step, as in conv2d

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"PatchWhitening(kernel_size={self.kernel_size}, epsilon={self.epsilon!r}, activation={activation!r})"

    @property
    def fitted(self):
        """Whether the filters are known: fitted by :meth:`fit`, or loaded into ``buffers``
        (any filter that is not all zeros; :meth:`allocate` leaves zeros)."""
        if not self._fitted and "W" in self.buffers:
            W = self.buffers["W"]
            self._fitted = bool(array_namespace(W).any(W))
        return self._fitted

    def to(self, device=None, dtype=None):
        """Move (or cast) the filters with the parameters and gradients; returns the layer."""
        for key, value in self.buffers.items():
            self.buffers[key] = self.backend.move(value, device=device, dtype=dtype)
        return super().to(device=device, dtype=dtype)

    def fit(self, X):
        """Fit the filters to the NHWC batch ``X`` (all its ``k x k`` patches); returns the layer.

        Made in ``X``'s dtype on its device (an array of another library is moved to the
        layer's device first), like every layer's arrays. The bias is made (zeros) if it does
        not exist yet, and kept otherwise.
        """
        X = self.as_input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        covariance = self.backend.to_numpy(patch_whitening_covariance(X, self.kernel_size))
        filters = whitening_filters(covariance, self.kernel_size, X.shape[3], self.epsilon)
        self._make_arrays(X)
        W = self.buffers["W"]
        self.buffers["W"] = self.backend.asarray(filters, dtype=W.dtype, device=device_of(W))
        self._fitted = True
        return self

    def allocate(self, X):
        """Make ``W`` (zeros: not fitted) and ``b`` for inputs shaped like ``X``, if not made
        yet, and return zeros of the output's shape, dtype and device.

        For :meth:`~corenn.nn.model.Sequential.initialize`, which needs every layer's arrays to
        exist (a checkpoint is then loaded into them) and the output's shape for the next
        layer, but whose zero sample has no patches worth fitting to.
        """
        X = self.as_input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        self._make_arrays(X)
        k = self.kernel_size
        shape = (X.shape[0], X.shape[1] - k + 1, X.shape[2] - k + 1, self.n_out)
        return array_namespace(X).zeros(shape, dtype=X.dtype, device=device_of(X))

    def forward(self, X):
        X = self.as_input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        if not self.fitted:
            raise CorennError(
                f"{self.name} must be fitted to data before its first forward: call "
                "model.fit_to_data(a training batch) (the trainer does this on a fresh run's first "
                "batch), layer.fit(X), or load saved parameters"
            )
        W = self.buffers["W"]
        # the filters may also have been set from outside (a loaded file): W decides the sizes
        self.n_in, self.n_out = W.shape[2], W.shape[3]
        self._check_channels(X.shape)
        geometry = window_geometry(X.shape, (self.kernel_size,) * 2, (1, 1), "valid", self.name)
        Z, saved = conv2d_forward(
            X, W, self.parameters["b"], geometry, compute_dtype=self.compute_dtype, scratch=self._scratch
        )
        self.cache["Z"] = Z
        self.cache["convolution"] = saved
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY)
        dX, _, self.gradients["b"] = conv2d_backward(
            dZ,
            self.buffers["W"],
            self.cache["convolution"],
            input_gradient=self.needs_input_gradient,
            weight_gradient=False,  # the filters are frozen
        )
        return dX

    def _make_arrays(self, X):
        """``W`` (zeros) and ``b`` for ``X``'s channels, in its dtype on its device, unless
        they exist already."""
        k, channels = self.kernel_size, X.shape[3]
        n_out = 2 * k * k * channels
        if "W" not in self.buffers:
            W = np.zeros((k, k, channels, n_out))
            options = {"dtype": X.dtype, "device": device_of(X)}
            self.buffers["W"] = self.backend.asarray(W, **options)
            self.make_parameters(b=self.backend.asarray(np.zeros((1, n_out)), **options))
        self.n_in, self.n_out = self.buffers["W"].shape[2], self.buffers["W"].shape[3]
        self._check_channels(X.shape)

    def _check_channels(self, input_shape):
        if input_shape[3] != self.n_in:
            raise ShapeError(
                f"{self.name} was made for {self.n_in} input channels (W of shape "
                f"{tuple(self.buffers['W'].shape)}), got an input with {input_shape[3]} channels"
            )
