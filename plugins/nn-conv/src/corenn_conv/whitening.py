"""The patch-whitening layer: a convolution whose filters are fitted to the data, not trained; for every backend."""

from collections import OrderedDict

import numpy as np

from corenn.errors import CorennError, ShapeError
from corenn.nn.geometry import window_geometry
from corenn.nn.kernels import array_namespace, device_of
from corenn.nn.layers import ProductLayer, build_activation
from corenn.nn.whitening import check_patch_input, checked_epsilon, checked_kernel_size, whitening_filters

from corenn_conv.patches import Workspace


class PatchWhitening(ProductLayer):
    """``Y = activation(Z)``, ``Z`` the valid (no padding, stride 1) convolution of the NHWC
    ``X`` with frozen whitening filters ``W`` ``(k, k, C, 2d)``, ``d = k * k * C``, plus ``b``.

    Why: airbench's first layer. Whitening the ``k x k`` patches of the images makes the first
    layer's outputs decorrelated, with unit variance, so the network does not have to spend its
    first epochs undoing the strong correlations between neighbouring pixels and colours; that
    speeds early training a lot. The filters are frozen because a high learning rate would
    soon undo the whitening.

    :meth:`fit` computes the filters once from a batch (see :mod:`corenn.nn.whitening`): the
    eigenvectors of the patches' second-moment matrix scaled by ``1 / sqrt(eigenvalue +
    epsilon)``, then the same ``d`` filters negated. The second-moment matrix is the backend's
    kernel ``patch_whitening_covariance`` (float64, computed where the data is); the filters
    are taken from that small ``d x d`` matrix by ``corenn.nn.whitening.whitening_filters`` on
    every backend, so all fit the same filters from the same data. They live in
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

    Forward and backward are the backend's convolution kernels (``conv2d_forward``,
    ``conv2d_backward`` without ``dW``: the filters are frozen). ``compute_dtype`` (default
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
        self._workspace = Workspace()  # scratch memory for the backend's kernels, as in conv2d

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
            self.buffers[key] = self.kernels.move(value, device=device, dtype=dtype)
        return super().to(device=device, dtype=dtype)

    def fit(self, X):
        """Fit the filters to the NHWC batch ``X`` (all its ``k x k`` patches); returns the layer.

        Made in ``X``'s dtype on its device (an array of another library is moved to the
        layer's device first), like every layer's arrays. The bias is made (zeros) if it does
        not exist yet, and kept otherwise.
        """
        X = self._input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        channels = X.shape[3]
        covariance = self.kernels.to_numpy(self.kernels.patch_whitening_covariance(X, self.kernel_size))
        filters = whitening_filters(covariance, self.kernel_size, channels, self.epsilon)
        self._make_arrays(X)
        W = self.buffers["W"]
        W[...] = self.kernels.asarray(filters, dtype=W.dtype, device=device_of(W))
        self._fitted = True
        return self

    def allocate(self, X):
        """Make ``W`` (zeros: not fitted) and ``b`` for inputs shaped like ``X``, if not made
        yet, and return zeros of the output's shape, dtype and device.

        For :meth:`~corenn.nn.model.Sequential.initialize`, which needs every layer's arrays to
        exist (a checkpoint is then loaded into them) and the output's shape for the next
        layer, but whose zero sample has no patches worth fitting to.
        """
        X = self._input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        self._make_arrays(X)
        k = self.kernel_size
        shape = (X.shape[0], X.shape[1] - k + 1, X.shape[2] - k + 1, self.n_out)
        return array_namespace(X).zeros(shape, dtype=X.dtype, device=device_of(X))

    def forward(self, X):
        X = self._input(X)
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
        Z, saved = self.kernels.conv2d_forward(
            X, W, self.parameters["b"], geometry, compute_dtype=self.compute_dtype, workspace=self._workspace
        )
        self.cache["Z"] = Z
        self.cache["convolution"] = saved
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        dX, _, self.gradients["b"] = self.kernels.conv2d_backward(
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
            self.buffers["W"] = self.kernels.asarray(W, **options)
            self._make_parameters(b=self.kernels.asarray(np.zeros((1, n_out)), **options))
        self.n_in, self.n_out = self.buffers["W"].shape[2], self.buffers["W"].shape[3]
        self._check_channels(X.shape)

    def _check_channels(self, input_shape):
        if input_shape[3] != self.n_in:
            raise ShapeError(
                f"{self.name} was made for {self.n_in} input channels (W of shape "
                f"{tuple(self.buffers['W'].shape)}), got an input with {input_shape[3]} channels"
            )
