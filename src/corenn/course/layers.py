"""The course's ``layers`` module: corenn's registered numpy layers under the course's names.

Each name is a class (see :mod:`corenn.course._registered`): ``FullyConnected(n_out=3,
activation="relu")`` builds corenn's registered ``fully_connected`` layer through
``corenn.create``, and ``isinstance(x, FullyConnected)`` holds for it. Its weights are drawn from
numpy's global random state (see :mod:`corenn.course.weights`). The layers have the course's
``Layer`` API, ``_init_parameters(X_shape)`` included; ``Layer`` is their base.
"""

import inspect

import corenn
from corenn.course._registered import RegisteredComponent
from corenn.course.weights import initialize_weights
from corenn.errors import ConfigError
from corenn.nn.layers import Layer

__all__ = ["Conv2D", "Flatten", "FullyConnected", "Layer", "Pool2D", "initialize_layer"]


def _weights(weight_init, activation):
    """A weight initializer name becomes the course's, drawing from numpy's global state."""
    return initialize_weights(weight_init, activation=activation) if isinstance(weight_init, str) else weight_init


class FullyConnected(RegisteredComponent):
    """``activation(X @ W + b)``: W (n_in, n_out), b (1, n_out)."""

    kind, registered_name = "layer", "fully_connected"

    def __new__(cls, n_out, activation, weight_init="xavier_uniform"):
        return corenn.create(
            "layer",
            "fully_connected",
            n_out=n_out,
            activation=activation,
            weight_init=_weights(weight_init, activation),
        )


class Conv2D(RegisteredComponent):
    """A cross-correlation over NHWC batches: W (kh, kw, C_in, n_out), b (1, n_out)."""

    kind, registered_name = "layer", "conv2d"

    def __new__(cls, n_out, kernel_shape, activation, stride=1, pad="same", weight_init="xavier_uniform"):
        return corenn.create(
            "layer",
            "conv2d",
            n_out=n_out,
            kernel_shape=kernel_shape,
            activation=activation,
            stride=stride,
            pad=pad,
            weight_init=_weights(weight_init, activation),
        )


class Pool2D(RegisteredComponent):
    """Max or average pooling of each window, channel by channel."""

    kind, registered_name = "layer", "pool2d"

    def __new__(cls, kernel_shape, mode="max", stride=1, pad=0):
        return corenn.create("layer", "pool2d", kernel_shape=kernel_shape, mode=mode, stride=stride, pad=pad)


class Flatten(RegisteredComponent):
    """``"first"``: (m, ...) to (m, -1); ``"last"``: to (-1, X.shape[-1]); ``-1``: to (1, -1)."""

    kind, registered_name = "layer", "flatten"

    def __new__(cls, keep_dim="first"):
        return corenn.create("layer", "flatten", keep_dim=keep_dim)


LAYERS = {
    "fully_connected": (FullyConnected, ("n_out", "activation", "weight_init")),
    "conv2d": (Conv2D, ("n_out", "kernel_shape", "activation", "stride", "pad", "weight_init")),
    "pool2d": (Pool2D, ("kernel_shape", "mode", "stride", "pad")),
    "flatten": (Flatten, ("keep_dim",)),
}


def initialize_layer(
    name,
    activation=None,
    weight_init=None,
    n_out=None,
    kernel_shape=None,
    stride=None,
    pad=None,
    mode=None,
    keep_dim="first",
):
    """The layer the course calls ``name`` from the course's layer arguments.

    An argument left at ``None`` takes the layer's default; one given to a layer that has no
    such option is an error (the course ignored it silently).
    """
    if name not in LAYERS:
        raise ConfigError(f"unknown layer {name!r}; the course's layers are: {', '.join(LAYERS)}")
    build, takes = LAYERS[name]
    given = {
        "activation": activation,
        "weight_init": weight_init,
        "n_out": n_out,
        "kernel_shape": kernel_shape,
        "stride": stride,
        "pad": pad,
        "mode": mode,
        "keep_dim": None if keep_dim == "first" else keep_dim,
    }
    given = {option: value for option, value in given.items() if value is not None}
    foreign = sorted(set(given) - set(takes))
    if foreign:
        raise ConfigError(f"layer {name!r} takes no {', '.join(foreign)}; its arguments are: {', '.join(takes)}")
    missing = [
        parameter.name
        for parameter in inspect.signature(build).parameters.values()
        if parameter.default is inspect.Parameter.empty and parameter.name not in given
    ]
    if missing:
        raise ConfigError(f"layer {name!r} needs {', '.join(missing)}; its arguments are: {', '.join(takes)}")
    return build(**given)
