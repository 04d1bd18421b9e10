"""The facade's names are classes that stand for corenn's registered components.

The course's own tests keep a name as a class attribute and call it from a method::

    class TestReLU:
        ActivationCls = ReLU

        def test_forward(self):
            activation = self.ActivationCls()

A function kept there would be bound as a method (``ReLU()`` would receive the test as its
first argument); a class is not. So ``ReLU`` is a class, and calling it gives corenn's
registered ``relu`` activation itself (its ``__new__`` returns ``corenn.create(...)``), which
``isinstance(activation, ReLU)`` recognises: the check asks whether the object is an instance of
the class registered under the name (:class:`RegisteredName`). Nothing here computes anything.

So a facade name cannot be subclassed: ``class MyReLU(ReLU)`` would give corenn's ``relu``
whatever ``MyReLU`` defines, and a wrong ``backward`` would pass a gradient check unseen. The
class statement itself is refused, naming the base to subclass instead (``Activation``,
``Layer``, ``Loss``), whose subclasses run their own methods.
"""

from corenn.errors import CorennError


class RegisteredName(type):
    """The type of a facade name: ``isinstance(x, ReLU)`` holds for every object of the class
    registered as ``(ReLU.kind, ReLU.registered_name)`` on the numpy backend, however it was built."""

    def registered_class(cls):
        """The class registered under the facade name's kind and name (``None`` when no installed
        plugin registers it)."""
        from corenn.plugins import get_registry

        try:
            return get_registry().get(cls.kind, cls.registered_name).load()
        except CorennError:
            return None

    def __instancecheck__(cls, instance):
        if "registered_name" not in vars(cls):  # the base class itself
            return super().__instancecheck__(instance)
        registered = cls.registered_class()
        return isinstance(registered, type) and isinstance(instance, registered)


class RegisteredComponent(metaclass=RegisteredName):
    """Base of the facade's names; a subclass sets ``kind`` and ``registered_name`` and defines
    ``__new__`` with the course's arguments, returning the registered component."""

    kind = None
    registered_name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        facade_names = [base for base in cls.__mro__[1:] if vars(base).get("registered_name") is not None]
        if facade_names:
            raise TypeError(_subclass_refusal(cls, facade_names[0]))
        if not cls.__doc__:
            cls.__doc__ = f"The course's name for corenn's registered {cls.kind} {cls.registered_name!r}."


# What a course student subclasses to write a component of each kind of their own.
OWN_COMPONENT_BASES = {
    "activation": "corenn.course.activations.Activation (with forward(Z) and backward(Z, dY))",
    "layer": "corenn.course.layers.Layer (with forward(X) and backward(dLdY))",
    "loss": "corenn.course.losses.Loss (with forward(Y, Y_hat) and backward(Y, Y_hat))",
}


def _subclass_refusal(cls, facade_name):
    """Why ``cls``, a subclass of the facade name ``facade_name``, is refused, and what to do instead."""
    instead = OWN_COMPONENT_BASES.get(facade_name.kind)
    advice = (
        f"subclass {instead} instead"
        if instead
        else "write a class of your own with __call__(epoch) returning the learning rate instead"
    )
    return (
        f"class {cls.__name__} cannot subclass {facade_name.__module__}.{facade_name.__name__}: calling "
        f"{facade_name.__name__}(...) gives corenn's registered {facade_name.kind} {facade_name.registered_name!r} "
        f"itself, so {cls.__name__}'s methods would never run; {advice}"
    )
