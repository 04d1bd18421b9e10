"""The patch-whitening layer: a convolution whose filters are fitted to the data, not trained."""

from collections import OrderedDict

import numpy as np

from corenn.errors import CorennError, ShapeError
from corenn.nn.geometry import window_geometry
from corenn.nn.layers import Layer, build_activation
from corenn.nn.whitening import (
    check_patch_input,
    checked_epsilon,
    checked_kernel_size,
    patch_covariance,
    whitening_filters,
)

from corenn_conv.patches import PatchMatrix


def _as_float_array(array):
    """``array`` as a floating ndarray; float32 stays float32, integers become float64."""
    array = np.asarray(array)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


class PatchWhitening(Layer):
    """``Y = activation(Z)``, ``Z`` the valid (no padding, stride 1) convolution of the NHWC
    ``X`` with frozen whitening filters ``W`` ``(k, k, C, 2d)``, ``d = k * k * C``, plus ``b``.

    Why: airbench's first layer. Whitening the ``k x k`` patches of the images makes the first
    layer's outputs decorrelated, with unit variance, so the network does not have to spend its
    first epochs undoing the strong correlations between neighbouring pixels and colours; that
    speeds early training a lot. The filters are frozen because a high learning rate would
    soon undo the whitening.

    :meth:`fit` computes the filters once from a batch (see :mod:`corenn.nn.whitening`): the
    eigenvectors of the patches' second-moment matrix scaled by ``1 / sqrt(eigenvalue +
    epsilon)``, then the same ``d`` filters negated. They live in ``buffers["W"]`` (saved and
    loaded with the parameters, never trained); ``parameters`` holds only the bias ``b``
    ``(1, 2d)``, zeros at first, which is trained. ``backward`` fills ``gradients["b"]`` and
    returns dL/dX.

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

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"PatchWhitening(kernel_size={self.kernel_size}, epsilon={self.epsilon!r}, activation={activation!r})"

    @property
    def fitted(self):
        """Whether the filters are known: fitted by :meth:`fit`, or loaded into ``buffers``
        (any filter that is not all zeros; :meth:`allocate` leaves zeros)."""
        if not self._fitted and "W" in self.buffers:
            self._fitted = bool(np.any(self.buffers["W"]))
        return self._fitted

    def fit(self, X):
        """Fit the filters to the NHWC batch ``X`` (all its ``k x k`` patches); returns the layer.

        Made in ``X``'s dtype, like every layer's arrays. The bias is made (zeros) if it does
        not exist yet, and kept otherwise.
        """
        X = _as_float_array(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        channels = X.shape[3]
        filters = whitening_filters(patch_covariance(X, self.kernel_size), self.kernel_size, channels, self.epsilon)
        self._make_arrays(channels, X.dtype)
        self.buffers["W"][...] = filters
        self._fitted = True
        return self

    def allocate(self, X):
        """Make ``W`` (zeros: not fitted) and ``b`` for inputs shaped like ``X``, if not made
        yet, and return zeros of the output's shape and dtype.

        For :meth:`~corenn.nn.model.Sequential.initialize`, which needs every layer's arrays to
        exist (a checkpoint is then loaded into them) and the output's shape for the next
        layer, but whose zero sample has no patches worth fitting to.
        """
        X = _as_float_array(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        self._make_arrays(X.shape[3], X.dtype)
        k = self.kernel_size
        return np.zeros((X.shape[0], X.shape[1] - k + 1, X.shape[2] - k + 1, self.n_out), dtype=X.dtype)

    def forward(self, X):
        X = _as_float_array(X)
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
        patches = PatchMatrix(geometry)
        P = patches.gather(X)
        Z = P @ W.reshape(-1, self.n_out).astype(X.dtype, copy=False)
        Z += self.parameters["b"].astype(X.dtype, copy=False)
        Z = Z.reshape(X.shape[0], *geometry.output_size, self.n_out)
        self.cache["Z"] = Z
        self.cache["patch_matrix"] = patches
        return self.activation.forward(Z)

    def backward(self, dLdY):
        if "Z" not in self.cache:
            raise CorennError(f"{self.name}: backward was called before any forward")
        Z, patches = self.cache["Z"], self.cache["patch_matrix"]
        dLdY = _as_float_array(dLdY)
        if dLdY.shape != Z.shape:
            raise ShapeError(
                f"{self.name}: the gradient for backward must have the output's shape {Z.shape}, got shape {dLdY.shape}"
            )
        dZ = self.activation.backward(Z, dLdY).reshape(-1, self.n_out).astype(Z.dtype, copy=False)
        b = self.parameters["b"]
        # a BLAS product sums the tall dZ's columns many times faster than dZ.sum(axis=0)
        self.gradients["b"] = (np.ones((1, dZ.shape[0]), dtype=dZ.dtype) @ dZ).astype(b.dtype, copy=False)
        if not self.needs_input_gradient:
            return None
        return patches.input_gradient(dZ, self.buffers["W"].reshape(-1, self.n_out).astype(Z.dtype, copy=False))

    def _make_arrays(self, channels, dtype):
        """``W`` (zeros) and ``b`` for ``channels`` input channels, unless they exist already."""
        k = self.kernel_size
        n_out = 2 * k * k * channels
        if "W" not in self.buffers:
            self.buffers["W"] = np.zeros((k, k, channels, n_out), dtype=dtype)
            self._make_parameters(b=np.zeros((1, n_out), dtype=dtype))
        self.n_in, self.n_out = self.buffers["W"].shape[2], self.buffers["W"].shape[3]
        self._check_channels((None, None, None, channels))

    def _check_channels(self, input_shape):
        if input_shape[3] != self.n_in:
            raise ShapeError(
                f"{self.name} was made for {self.n_in} input channels (W of shape "
                f"{self.buffers['W'].shape}), got an input with {input_shape[3]} channels"
            )
