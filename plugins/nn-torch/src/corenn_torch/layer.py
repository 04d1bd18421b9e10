"""What every layer of the torch backend shares: its tables, its device, and how it is built.

A torch layer has the numpy layers' API: ``parameters``, ``gradients`` and ``cache`` are
OrderedDicts (of tensors here), ``forward(X)`` fills the cache and ``backward(dLdY)`` fills the
gradients and returns dL/dX. Parameters are made at the first forward, in the input's dtype
*and on the input's device*, from the numpy initializer drawing on ``self.rng``, so a seed
gives the same weights on both backends.

Mixed precision: a layer whose work is a large product (``conv2d``, ``fully_connected``,
``patch_whitening``: the :class:`ProductLayer` subclasses) has ``compute_dtype``, the dtype
that product runs in. ``None`` (the
default) means the input's dtype. ``"bfloat16"`` casts the input and the weights to bfloat16
for the forward product and the backward products, and casts the outputs and gradients back to
the input's and the parameters' dtypes, so activations, normalisation, the loss, the parameters
and the optimizer's state (the "master weights") stay in the run's dtype. bfloat16 rather than
float16: it has float32's exponent range, so gradients neither underflow nor need loss scaling.
"""

import numpy as np
import torch

import corenn
import corenn.nn.layers
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.layers import Layer

from corenn_torch.tensors import as_float_tensor, check_same_device

BACKEND = "torch"

# The dtypes a layer's products may run in, by the names a config or a model uses. float16 is
# left out on purpose: without loss scaling its small gradients underflow to zero.
COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


class TorchLayer(Layer):
    """Base of the torch layers: the core's ``Layer`` (the tables, ``rng``, the course's
    methods) plus input conversion and ``to(device)``."""

    @property
    def device(self):
        """The device the parameters live on (``None`` before they are made, or for a layer
        without parameters)."""
        for value in self.parameters.values():
            return value.device
        return None

    def to(self, device=None, dtype=None):
        """Move (or cast) the parameters and gradients; returns the layer.

        The cache is dropped, so ``backward`` needs a new ``forward`` first.
        """
        for table in (self.parameters, self.gradients):
            for key, value in table.items():
                table[key] = value.to(device=device, dtype=dtype)
        self.cache.clear()
        return self

    def _input(self, X):
        """``X`` as a floating tensor on the parameters' device (numpy input is moved there;
        a tensor on another device is an error)."""
        X = as_float_tensor(X, device=self.device)
        if self.parameters:
            check_same_device(self.name, X, self.device)
        return X

    def _gradient_input(self, dLdY, device):
        """``dLdY`` as a floating tensor on the forward pass's ``device`` (numpy moves there)."""
        dLdY = as_float_tensor(dLdY, device=device)
        check_same_device(f"{self.name} backward", dLdY, device)
        return dLdY

    def _activation_gradient(self, dLdY, description=None):
        """dL/dZ for ``backward``: ``dLdY`` checked against the cached output ``Z`` (its shape,
        its device) and taken back through the activation, in ``Z``'s dtype."""
        self._require_forward("Z")
        Z = self.cache["Z"]
        dLdY = self._gradient_input(dLdY, Z.device)
        if dLdY.shape != Z.shape:
            raise ShapeError(
                f"{description or self.name}: the gradient for backward must have the output's shape "
                f"{tuple(Z.shape)}, got shape {tuple(dLdY.shape)}"
            )
        return self.activation.backward(Z, dLdY).to(Z.dtype)

    def _require_forward(self, key):
        if key not in self.cache:
            raise CorennError(f"{self.name}: backward was called before any forward")

    def _init_weights(self, shape, initializer, weight_init, dtype=torch.float64, device=None):
        """``W`` of ``shape`` from ``initializer`` on ``self.rng`` and a zero ``b``, both of
        ``dtype`` on ``device``, with their zero gradients."""
        rng = self.rng if self.rng is not None else np.random.default_rng()
        W = torch.as_tensor(initializer(shape, rng))
        if tuple(W.shape) != tuple(shape):
            raise ConfigError(
                f"{self.name}: weight_init {weight_init!r} made weights of shape {tuple(W.shape)}, "
                f"expected {tuple(shape)}"
            )
        self._make_parameters(
            W=W.to(device=device, dtype=dtype), b=torch.zeros((1, shape[-1]), dtype=dtype, device=device)
        )


class ProductLayer(TorchLayer):
    """A layer whose work is a large product (a convolution, a matrix product), which it can
    run in another dtype than its input's: ``compute_dtype`` (see the module's docstring).
    Only these layers have the attribute, so ``Sequential.set_compute_dtype`` reaches them
    alone."""

    def __init__(self):
        super().__init__()
        self._compute_dtype = None

    @property
    def compute_dtype(self):
        """The torch dtype the layer's products run in; ``None``: the input's dtype."""
        return self._compute_dtype

    @compute_dtype.setter
    def compute_dtype(self, dtype):
        self._compute_dtype = checked_compute_dtype(dtype, self.name)

    def _working_dtype(self, dtype):
        """The dtype of the products for inputs of ``dtype``."""
        return dtype if self._compute_dtype is None else self._compute_dtype


def checked_compute_dtype(dtype, layer):
    """``dtype`` (``None``, a name of ``COMPUTE_DTYPES`` or that torch dtype) as a torch dtype or
    ``None``."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in COMPUTE_DTYPES:
        return COMPUTE_DTYPES[dtype]
    if isinstance(dtype, torch.dtype) and dtype in COMPUTE_DTYPES.values():
        return dtype
    raise ConfigError(
        f"{layer}: compute_dtype must be None (the input's dtype) or one of {', '.join(COMPUTE_DTYPES)} "
        f"(or that torch dtype), got {dtype!r}"
    )


def build_activation(activation, layer):
    """A torch activation from its registered name or its table (``{"name": "leaky_relu",
    "slope": 0.1}``), or the object itself; errors name the layer. See
    :func:`corenn.nn.layers.build_activation`."""
    try:
        return corenn.nn.layers.build_activation(activation, BACKEND)
    except ConfigError as exc:
        raise type(exc)(f"{layer}: {exc}") from exc


def build_initializer(weight_init, activation, layer):
    """``init(shape, rng)`` from a registered initializer's name or table (its gain chosen for
    the activation, see :func:`corenn.nn.layers.build_initializer`), or the callable itself; errors
    name the layer."""
    try:
        return corenn.nn.layers.build_initializer(weight_init, activation, BACKEND)
    except ConfigError as exc:
        raise type(exc)(f"{layer}: {exc}") from exc
