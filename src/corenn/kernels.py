"""Kernels: the routines a component's math is written in, each declared once with its reference.

A kernel is declared beside the component that uses it, by decorating its *reference*: the
course's math, written plainly against the array namespace (loops over kernel offsets or output
positions are fine there, never over samples)::

    @kernel
    def conv2d_forward(X, W, b, geometry):
        \"\"\"Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]\"\"\"
        ...

    class Conv2D(Layer):
        def forward(self, X):
            Z, saved = conv2d_forward(X, W, b, geometry)   # a name an editor follows

The decorated name *is* the kernel. Calling it runs, for the backend whose arrays its first
argument is (see :class:`corenn.backend.Backend`'s ``array_module``), that backend's override of
the kernel when one is installed, and the reference otherwise, so a new backend runs every
component before it writes a single override. :func:`reference_kernels` (``corenn train
--kernels reference``) runs the references alone, on every backend.

*Overrides* are the fast versions (numpy's convolution as one BLAS product, torch's own
kernels). A module of them is registered for one backend in a plugin's registration hook::

    register("kernels", "corenn_conv.fast", backend="numpy")

and marks each with :func:`override`, naming the kernel by its object (from a module it may
import) or, from another package, as ``"module:name"``::

    @override(conv2d_forward)
    def conv2d_forward_im2col(X, W, b, geometry): ...

    @override("corenn_conv.conv2d:conv2d_forward")
    def conv2d_forward(X, W, b, geometry): ...

Such a module is imported when its backend is first used (``corenn plugins`` imports none). An
override must name a declared kernel and take exactly its parameters; only the package that
declares the kernel and the package of the backend may override it. Otherwise the plugin is
refused, in one line naming it (see ``corenn.plugins``). ``corenn kernels`` lists every declared
kernel, where its reference is, and which override each backend runs; ``corenn.testing.check_kernel``
checks an override against its reference.

This module is at the bottom of corenn's import graph, beside :mod:`corenn.backend`.
"""

import contextlib
import functools
import importlib
import inspect

from corenn.errors import PluginError

_declared = {}  # "module:name" -> Kernel
_installed = {}  # backend name -> {"module:name" of a kernel: Override}
_backend_of_module = {}  # top-level module of an array type ("numpy", "torch") -> backend name
_reference_only = False


class Kernel:
    """A declared kernel: its ``name``, its ``reference`` implementation (whose signature and
    docstring are the kernel's), and, optionally, ``examples`` of its arguments for the checks.

    Calling it dispatches on the type of its first argument (see the module's docstring); the
    choice is kept per array type, so a call costs a dictionary look-up more than the function.
    """

    def __init__(self, reference, examples=None):
        functools.update_wrapper(self, reference)
        self.reference = reference
        self.name = reference.__name__
        self.qualified_name = f"{reference.__module__}:{reference.__qualname__}"
        self.signature = inspect.signature(reference)
        self.examples = examples
        self._implementations = {}
        _declared[self.qualified_name] = self

    def __repr__(self):
        return f"<kernel {self.qualified_name}>"

    def __call__(self, *args, **kwargs):
        array_type = type(args[0]) if args else type(None)
        implementation = self._implementations.get(array_type)
        if implementation is None:
            implementation = self._resolve(array_type)
        return implementation(*args, **kwargs)

    def _resolve(self, array_type):
        implementation = self.reference
        if not _reference_only:
            override = self.override_for(_backend_of_module.get(array_type.__module__.partition(".")[0]))
            if override is not None:
                implementation = override.function
        self._implementations[array_type] = implementation
        return implementation

    def override_for(self, backend):
        """The :class:`Override` installed for ``backend`` (a name), or ``None``."""
        return _installed.get(backend, {}).get(self.qualified_name)

    def implementation_for(self, backend):
        """What a call with ``backend``'s arrays runs (outside :func:`reference_kernels`): its
        override, or the reference."""
        override = self.override_for(backend)
        return self.reference if override is None else override.function

    def load_examples(self):
        """The examples function (``examples(rng, run)``, see :func:`kernel`), importing it when
        it was given as ``"module:name"``; ``None`` when the kernel has none."""
        if not isinstance(self.examples, str):
            return self.examples
        module_name, _, attribute = self.examples.partition(":")
        return getattr(importlib.import_module(module_name), attribute)


def kernel(reference=None, *, examples=None):
    """Declare a kernel: ``@kernel`` on its reference implementation, or
    ``@kernel(examples="package.module:function")`` to give the checks examples of its arguments.

    ``examples(rng, run)`` yields ``(args, kwargs)`` calls of the kernel, drawing its arrays as
    numpy float64 arrays from the numpy generator ``rng`` (the checks move them to the backend
    checked): strided, padded, non-square and batch-1 shapes wherever the kernel has them. A
    kernel that takes what another one returned (a backward pass and its forward's ``saved``)
    gets it by calling ``run(other_kernel, *args)``, which runs the implementation being
    checked. Give it as ``"module:name"`` so that the declaring module imports no test code.
    """
    if reference is None:
        return lambda function: Kernel(function, examples)
    return Kernel(reference, examples)


def override(target):
    """Mark a function as a backend's faster version of the kernel ``target``: the
    :class:`Kernel` itself, or ``"module:name"`` of one declared in a package this one does
    not import. The function is returned as it is; the mark takes effect when the module is
    registered for a backend (``register("kernels", module, backend=...)``)."""

    def mark(function):
        function.corenn_overrides = target
        return function

    return mark


class Override:
    """One installed override: the kernel, the function, the backend and who registered it."""

    def __init__(self, kernel, function, backend, plugin, distribution):
        self.kernel = kernel
        self.function = function
        self.backend = backend
        self.plugin = plugin
        self.distribution = distribution

    @property
    def origin(self):
        """``corenn_conv.fast.conv2d_forward_im2col``: where the override is."""
        return f"{self.function.__module__}.{self.function.__qualname__}"

    def __repr__(self):
        return f"<override of {self.kernel.qualified_name} for {self.backend}: {self.origin}>"


def marked_overrides(module):
    """``(target, function)`` for every function defined in ``module`` that :func:`override` marked."""
    found = []
    for value in vars(module).values():
        target = getattr(value, "corenn_overrides", None)
        if target is not None and callable(value) and getattr(value, "__module__", None) == module.__name__:
            found.append((target, value))
    return found


def resolve_target(target):
    """The :class:`Kernel` an override names, or ``None`` when its package is not installed
    (then nothing can call the kernel, and the override is skipped). Raises ``PluginError``
    for a name that is not a declared kernel."""
    if isinstance(target, Kernel):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise PluginError(f"@override needs a kernel or 'module:name' of one, got {target!r}")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name.partition(".")[0]:
            return None
        raise PluginError(f"override of {target}: cannot import {module_name}: {exc}") from exc
    found = getattr(module, attribute, None)
    if not isinstance(found, Kernel):
        declared = sorted(value.name for value in vars(module).values() if isinstance(value, Kernel))
        raise PluginError(
            f"override of {target}: {module_name} declares no kernel {attribute!r}"
            + (f"; it declares {', '.join(declared)}" if declared else "")
        )
    return found


def signature_problem(kernel, function):
    """Why ``function`` cannot stand in for ``kernel`` (its parameters differ: names, order,
    kinds or defaults), or ``None``."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return f"{function!r} has no signature to compare"
    expected = list(kernel.signature.parameters.values())

    def shape(parameter):
        return (parameter.name, parameter.kind, parameter.default)

    if [shape(p) for p in parameters] == [shape(p) for p in expected]:
        return None
    return (
        f"{function.__module__}.{function.__qualname__}{_plain(parameters)} does not take the parameters of "
        f"the kernel it overrides, {kernel.qualified_name}{_plain(expected)}"
    )


def _plain(parameters):
    """A signature without annotations, as a reader would compare two."""
    return str(inspect.Signature([parameter.replace(annotation=inspect.Parameter.empty) for parameter in parameters]))


def install_backend(backend, array_module, overrides):
    """Make ``overrides`` (:class:`Override` objects) what the kernels run on ``backend``'s arrays,
    replacing what was installed for it before; arrays whose type's top-level module is
    ``array_module`` are that backend's."""
    _installed[backend] = {found.kernel.qualified_name: found for found in overrides}
    if array_module is not None:
        _backend_of_module[array_module] = backend
    _forget_choices()


def installed_overrides(backend):
    """The overrides installed for ``backend``, by kernel."""
    return dict(_installed.get(backend, {}))


def declared_kernels():
    """Every kernel declared in the modules imported so far, sorted by where they are declared."""
    return [_declared[name] for name in sorted(_declared)]


@contextlib.contextmanager
def reference_kernels(enabled=True):
    """Inside this block every kernel runs its reference, on every backend (``enabled=False``:
    the overrides again). For stepping through the course's math in a debugger, and for
    ``corenn train --kernels reference``."""
    global _reference_only
    previous = _reference_only
    _reference_only = bool(enabled)
    _forget_choices()
    try:
        yield
    finally:
        _reference_only = previous
        _forget_choices()


def using_references():
    """Whether :func:`reference_kernels` is in effect."""
    return _reference_only


def _forget_choices():
    for declared in _declared.values():
        declared._implementations.clear()
