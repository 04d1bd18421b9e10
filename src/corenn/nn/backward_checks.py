"""The check after each layer's backward that blames the layer that got its shapes wrong.

A layer whose ``backward`` returns dL/dX of the wrong shape is not where the error surfaces:
the layer before it (which receives that gradient) fails, or a broadcast somewhere turns it
into nonsense, or (as the first layer) nothing reads it at all; a parameter gradient of the
wrong shape surfaces in the optimizer. So every caller of ``backward`` (the model, the residual
block, :mod:`corenn.testing`) checks right after it, with this one function, and names the
layer that produced the gradient.
"""

from corenn.errors import ShapeError


def layer_origin(name, backend="numpy"):
    """``"name, from corenn-fc"``: a registered layer's name and its distribution (the name
    alone when no plugin registers it, as for a layer object built by hand)."""
    from corenn.plugins import get_registry

    try:
        return f"{name}, from {get_registry().get('layer', name, backend).distribution}"
    except Exception:  # not registered under that name: the name is all there is to say
        return str(name)


def _shape(array):
    return tuple(array.shape) if hasattr(array, "shape") else None


def check_backward(layer, input_shape, dX, where):
    """Raise a :class:`ShapeError` naming ``where`` unless the backward that just ran left
    dL/dX of the input's shape and one gradient per parameter of its shape and dtype.

    ``where`` is the layer's description, or a function giving it: it runs after every
    backward of every layer, so the description (a registry look-up) is made only on failure.
    ``dX`` may be ``None`` only when the layer was told not to compute it
    (``needs_input_gradient = False``, see ``Sequential.skip_input_gradient``). An
    ``input_shape`` of ``None`` (no forward seen) skips the check of dL/dX.
    """
    problem = backward_problem(layer, input_shape, dX)
    if problem is not None:
        raise ShapeError(f"{where() if callable(where) else where}: {problem}")


def backward_problem(layer, input_shape, dX):
    """What is wrong with the gradients a layer's backward just left, or ``None``."""
    if input_shape is None:
        pass
    elif dX is None:
        if getattr(layer, "needs_input_gradient", True) is not False:
            return f"backward returned None; it must return dL/dX, of the input's shape {tuple(input_shape)}"
    elif _shape(dX) != tuple(input_shape):
        got = f"shape {_shape(dX)}" if _shape(dX) is not None else f"a {type(dX).__name__}, not an array"
        return f"backward returned dL/dX of {got}; it must have the shape of the layer's input, {tuple(input_shape)}"
    gradients = layer.gradients
    for key, parameter in layer.parameters.items():
        gradient = gradients.get(key)
        if gradient is None:
            return f"backward left gradients[{key!r}] unset; it must fill one gradient per parameter"
        if _shape(gradient) != _shape(parameter):
            return (
                f"backward made gradients[{key!r}] of shape {_shape(gradient)}; it must have the shape "
                f"of parameters[{key!r}], {_shape(parameter)}"
            )
        if gradient.dtype != parameter.dtype:
            return (
                f"backward made gradients[{key!r}] of dtype {gradient.dtype}; it must have the dtype "
                f"of parameters[{key!r}], {parameter.dtype}"
            )
    return None
