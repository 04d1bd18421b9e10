"""The 2-d convolution layer on torch tensors (a cross-correlation, NHWC, as on numpy)."""

import numbers

import torch
import torch.nn.functional as F

from corenn.errors import ConfigError, ShapeError
from corenn.nn.geometry import checked_pad, positive_pair

from corenn_torch.geometry import window_geometry
from corenn_torch.layer import ProductLayer, build_activation, build_initializer


class Conv2D(ProductLayer):
    """``Y = activation(Z)``, ``Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]``.

    The numpy layer's options and layout: ``X`` is NHWC ``(m, H, W, C_in)``, ``W`` is
    ``(kh, kw, C_in, n_out)``, ``b`` is ``(1, n_out)``, ``pad`` as in
    :mod:`corenn.nn.geometry`.

    An NHWC batch seen through ``permute(0, 3, 1, 2)`` *is* an NCHW tensor in torch's
    channels-last memory format, so ``torch.nn.functional.conv2d`` runs on it without a copy
    and its channels-last output permutes back to a contiguous NHWC ``Z``. Uneven
    padding (four ints with ``top != bottom`` or ``left != right``) is added with ``F.pad`` first;
    ``"same"`` is always even, and torch's kernel pads it itself.

    The backward pass calls ``torch.ops.aten.convolution_backward``, the kernel autograd
    itself runs for a convolution, directly: one call gives dX, dW and db, without recording a
    graph in ``forward`` (so ``forward`` costs the same under ``torch.no_grad()`` and in
    evaluation).

    ``compute_dtype`` (an attribute, default ``None``: the input's dtype) may be
    ``"bfloat16"`` for mixed precision: the convolution and the backward products run on
    bfloat16 copies of the input and the weights; Z, dL/dX and the gradients come back in the
    input's and the parameters' dtypes, and db is summed in the run's dtype (see
    :mod:`corenn_torch.layer`).
    """

    name = "conv2d"
    example_input_shape = (2, 7, 7, 3)

    def __init__(self, n_out, kernel_shape, activation="linear", stride=1, pad="same", weight_init="xavier_uniform"):
        super().__init__()
        if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral) or n_out < 1:
            raise ConfigError(f"conv2d: n_out (the number of filters) must be a positive integer, got {n_out!r}")
        self.n_out = int(n_out)
        self.kernel_shape = positive_pair(kernel_shape, "kernel_shape", "conv2d")
        self.stride = positive_pair(stride, "stride", "conv2d")
        self.pad = checked_pad(pad, "conv2d")
        self.activation = build_activation(activation, "conv2d")
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation, "conv2d")

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return (
            f"Conv2D(n_out={self.n_out}, kernel_shape={self.kernel_shape}, activation={activation!r}, "
            f"stride={self.stride}, pad={self.pad!r}, weight_init={self.weight_init!r})"
        )

    @property
    def _description(self):
        kh, kw = self.kernel_shape
        return f"conv2d (n_out={self.n_out}, kernel {kh}x{kw}, stride {self.stride}, pad {self.pad!r})"

    def forward(self, X):
        X = self._input(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, X.device)
        W, b = self.parameters["W"], self.parameters["b"]
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n_in.
        self.n_in = W.shape[2]
        if X.shape[3] != self.n_in:
            raise ShapeError(
                f"{self._description} was initialised for {self.n_in} input channels (W of shape "
                f"{tuple(W.shape)}), got an input of shape {tuple(X.shape)} with {X.shape[3]} channels"
            )
        # as on numpy, the convolution runs in the input's dtype, unless compute_dtype says
        # otherwise (mixed precision); Z comes back in the input's dtype either way
        working = self._working_dtype(X.dtype)
        X_nchw = X.permute(0, 3, 1, 2).to(working)  # the cast keeps the channels-last strides
        padding = geometry.symmetric_padding
        if padding is None:
            X_nchw = F.pad(X_nchw, geometry.torch_pad)
            padding = (0, 0)
        # (n_out, C_in, kh, kw), torch's layout, made contiguous: some of torch's kernels (the
        # fallback for tiny inputs) require it, and the others would copy it anyway
        weight = W.permute(3, 2, 0, 1).to(working).contiguous()
        Z = F.conv2d(X_nchw, weight, b.reshape(-1).to(working), stride=self.stride, padding=padding)
        Z = Z.permute(0, 2, 3, 1).contiguous().to(X.dtype)  # contiguous: a no-op when torch chose channels-last
        self.cache["X_nchw"] = X_nchw
        self.cache["weight"] = weight
        self.cache["padding"] = padding
        self.cache["geometry"] = geometry
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def _init_parameters(self, X_shape, dtype=torch.float64, device=None):
        """Make ``W`` and ``b`` (and zero gradients) for NHWC inputs of shape ``X_shape``."""
        self._init_weights(
            (*self.kernel_shape, X_shape[3], self.n_out), self._initializer, self.weight_init, dtype, device
        )
        self.n_in = X_shape[3]

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY, self._description)
        Z, X_nchw, weight = self.cache["Z"], self.cache["X_nchw"], self.cache["weight"]
        dX_nchw, d_weight, d_bias = convolution_backward(
            dZ, X_nchw, weight, self.stride, self.cache["padding"], input_gradient=True, weight_gradient=True
        )
        W = self.parameters["W"]
        self.gradients["W"] = d_weight.permute(2, 3, 1, 0).to(W.dtype).contiguous()
        self.gradients["b"] = d_bias.reshape(1, -1).to(W.dtype)
        geometry = self.cache["geometry"]
        if geometry.symmetric_padding is None:
            dX_nchw = geometry.crop(dX_nchw)
        return dX_nchw.permute(0, 2, 3, 1).contiguous().to(Z.dtype)


def convolution_backward(dZ, X_nchw, weight, stride, padding, *, input_gradient, weight_gradient):
    """``(dX, dW, db)`` of a convolution, from ``dZ`` (NHWC), through
    ``aten.convolution_backward``, the kernel autograd itself runs: dX as NCHW (``None``
    unless ``input_gradient``), dW in torch's ``(n_out, C_in, kh, kw)`` layout (``None``
    unless ``weight_gradient``), db of shape ``(n_out,)``.

    The products run in the dtype the forward pass computed in (``X_nchw``'s: bfloat16 under
    mixed precision); db, a plain sum, is then taken in ``dZ``'s dtype, as in bfloat16 it
    would keep 3 digits.
    """
    mixed = X_nchw.dtype != dZ.dtype
    dX_nchw, d_weight, d_bias = torch.ops.aten.convolution_backward(
        dZ.permute(0, 3, 1, 2).to(X_nchw.dtype),
        X_nchw,
        weight,
        [weight.shape[0]],  # bias sizes
        list(stride),
        list(padding),
        [1, 1],  # dilation
        False,  # transposed
        [0, 0],  # output padding
        1,  # groups
        [input_gradient, weight_gradient, not mixed],  # which of dX, dW, db to compute
    )
    if mixed:
        d_bias = dZ.sum(dim=(0, 1, 2))
    return dX_nchw, d_weight, d_bias
