"""The patch-whitening layer on torch tensors: frozen filters fitted to the data, NHWC, as on numpy."""

from collections import OrderedDict

import torch
import torch.nn.functional as F

from corenn.errors import CorennError, ShapeError
from corenn.nn.whitening import (
    check_patch_input,
    checked_epsilon,
    checked_kernel_size,
    samples_per_chunk,
    whitening_filters,
)

from corenn_torch.conv2d import convolution_backward
from corenn_torch.layer import ProductLayer, build_activation


def patch_covariance(X, kernel_size):
    """``P^T P / n_patches`` (float64, on ``X``'s device) over every ``k x k`` patch of the NHWC
    tensor ``X``, rows in the kernel's ``(i, j, c)`` order: ``corenn.nn.whitening.patch_covariance``
    computed where the data is."""
    m, rows, cols, channels = X.shape
    d = kernel_size * kernel_size * channels
    total = torch.zeros((d, d), dtype=torch.float64, device=X.device)
    chunk = samples_per_chunk((rows, cols, channels), kernel_size)
    for start in range(0, m, chunk):
        # (n, H', W', C, kh, kw) -> rows (kh, kw, C)
        windows = X[start : start + chunk].unfold(1, kernel_size, 1).unfold(2, kernel_size, 1)
        patches = windows.permute(0, 1, 2, 4, 5, 3).reshape(-1, d).to(torch.float64)
        total += patches.T @ patches
    return total / (m * (rows - kernel_size + 1) * (cols - kernel_size + 1))


class PatchWhitening(ProductLayer):
    """The numpy ``patch_whitening`` (see ``corenn_conv.whitening``) on torch tensors.

    ``Y = activation(Z)``, ``Z`` the valid (no padding, stride 1) convolution of the NHWC ``X``
    with the frozen whitening filters ``buffers["W"]`` ``(k, k, C, 2d)``, ``d = k * k * C``,
    plus the trained bias ``b`` ``(1, 2d)``. Why: airbench's first layer; whitened patches make
    the first layer's outputs decorrelated with unit variance, which speeds early training a
    lot, and the filters stay frozen because a high learning rate would undo the whitening.

    :meth:`fit` computes the patches' second-moment matrix in float64 on the data's device,
    moves that small ``d x d`` matrix to numpy and takes the filters from
    ``corenn.nn.whitening.whitening_filters``, the numpy layer's own function: both backends fit
    the same filters from the same data. ``forward`` before :meth:`fit` (or a load of saved
    filters) raises CorennError; :meth:`allocate` makes the arrays unfitted for
    ``Sequential.initialize``.

    Options: ``kernel_size`` (default 2, an int >= 1), ``epsilon`` (default 5e-4, > 0),
    ``activation`` (default ``"linear"``). ``needs_input_gradient = False`` (for a first layer)
    skips dL/dX, and ``backward`` returns ``None``.

    Forward is ``F.conv2d`` on the channels-last view of the batch and backward one call of
    ``aten.convolution_backward`` (dX and db only), as in ``corenn_torch.conv2d``.

    ``compute_dtype`` (an attribute, default ``None``: the input's dtype) may be
    ``"bfloat16"`` for mixed precision: the convolution and dL/dX run on bfloat16 copies of the
    input and the filters (which are fitted, and kept, in the run's dtype); Z, dL/dX and db
    come back in the run's dtype (see :mod:`corenn_torch.layer`).
    """

    name = "patch_whitening"
    example_input_shape = (3, 5, 5, 2)

    def __init__(self, kernel_size=2, epsilon=5e-4, activation="linear"):
        super().__init__()
        self.kernel_size = checked_kernel_size(kernel_size, self.name)
        self.epsilon = checked_epsilon(epsilon, self.name)
        self.activation = build_activation(activation, self.name)
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
            self._fitted = bool(self.buffers["W"].any())
        return self._fitted

    def to(self, device=None, dtype=None):
        for key, value in self.buffers.items():
            self.buffers[key] = value.to(device=device, dtype=dtype)
        return super().to(device=device, dtype=dtype)

    def fit(self, X):
        """Fit the filters to the NHWC batch ``X`` (a tensor, or anything numpy takes, moved to
        the layer's device); returns the layer. The bias is made (zeros) if it does not exist."""
        X = self._input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        covariance = patch_covariance(X, self.kernel_size).cpu().numpy()
        filters = whitening_filters(covariance, self.kernel_size, X.shape[3], self.epsilon)
        self._make_arrays(X)
        self.buffers["W"].copy_(torch.from_numpy(filters))
        self._fitted = True
        return self

    def allocate(self, X):
        """Make ``W`` (zeros: not fitted) and ``b`` for inputs shaped like ``X``, if not made
        yet, and return zeros of the output's shape, dtype and device (for
        ``Sequential.initialize``, whose zero sample has nothing to fit to)."""
        X = self._input(X)
        check_patch_input(X.shape, self.kernel_size, self.name)
        self._make_arrays(X)
        k = self.kernel_size
        shape = (X.shape[0], X.shape[1] - k + 1, X.shape[2] - k + 1, self.n_out)
        return torch.zeros(shape, dtype=X.dtype, device=X.device)

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
        working = self._working_dtype(X.dtype)  # compute_dtype (mixed precision) or X's
        X_nchw = X.permute(0, 3, 1, 2).to(working)
        weight = W.permute(3, 2, 0, 1).to(working).contiguous()
        Z = F.conv2d(X_nchw, weight, self.parameters["b"].reshape(-1).to(working))
        Z = Z.permute(0, 2, 3, 1).contiguous().to(X.dtype)
        self.cache["X_nchw"] = X_nchw
        self.cache["weight"] = weight
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        Z, X_nchw, weight = self.cache["Z"], self.cache["X_nchw"], self.cache["weight"]
        dX_nchw, _, d_bias = convolution_backward(
            dZ, X_nchw, weight, (1, 1), (0, 0), input_gradient=self.needs_input_gradient, weight_gradient=False
        )  # the filters are frozen: no dW
        b = self.parameters["b"]
        self.gradients["b"] = d_bias.reshape(1, -1).to(b.dtype)
        if not self.needs_input_gradient:
            return None
        return dX_nchw.permute(0, 2, 3, 1).contiguous().to(Z.dtype)

    def _make_arrays(self, X):
        """``W`` (zeros) and ``b`` for ``X``'s channels, in its dtype on its device, unless
        they exist already."""
        k, channels = self.kernel_size, X.shape[3]
        n_out = 2 * k * k * channels
        if "W" not in self.buffers:
            options = {"dtype": X.dtype, "device": X.device}
            self.buffers["W"] = torch.zeros((k, k, channels, n_out), **options)
            self._make_parameters(b=torch.zeros((1, n_out), **options))
        self.n_in, self.n_out = self.buffers["W"].shape[2], self.buffers["W"].shape[3]
        self._check_channels(X.shape)

    def _check_channels(self, input_shape):
        if input_shape[3] != self.n_in:
            raise ShapeError(
                f"{self.name} was made for {self.n_in} input channels (W of shape "
                f"{tuple(self.buffers['W'].shape)}), got an input with {input_shape[3]} channels"
            )
