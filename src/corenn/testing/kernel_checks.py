"""Checking a backend's kernel overrides against the kernels' references (see :mod:`corenn.kernels`)."""

import attrs
import numpy as np

from corenn.testing.gradients import relative_error

KERNEL_TOLERANCE = 1e-10
"""The largest norm-wise relative error of an override against its reference, in float64."""


@attrs.frozen
class KernelCheck:
    """The outcome of :func:`check_kernel`: for each example call and each array the kernel
    returns, the override's norm-wise relative error against the reference (``errors``, keyed
    ``"call 3, output 1"``), and ``failures``: outputs that could not be compared (a missing
    array, another shape or dtype)."""

    kernel: str
    backend: str
    override: str
    calls: int
    errors: dict
    tolerance: float
    failures: tuple = ()

    @property
    def max_error(self):
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self):
        return not self.failures and self.max_error <= self.tolerance

    def __str__(self):
        lines = [
            f"kernel {self.kernel}: {self.override} against the reference on {self.backend}, {self.calls} calls, "
            f"largest relative error {self.max_error:.3e} (tolerance {self.tolerance:g})"
        ]
        lines += [f"  {where}: {error:.3e}" for where, error in self.errors.items() if error > self.tolerance]
        lines += [f"  failure: {failure}" for failure in self.failures]
        lines.append("passed" if self.passed else "FAILED")
        return "\n".join(lines)

    def __repr__(self):
        # pytest shows an assertion message by its repr: `assert report.passed, report` then reads as the report
        return str(self)


def kernels_with_examples():
    """Every kernel declared by the installed packages that has examples (their components'
    modules are imported), for a test parametrized over them."""
    from corenn.plugins import get_plugins

    return [declared for declared in get_plugins().declared_kernels() if declared.examples is not None]


def check_kernel(kernel, backend="numpy", *, seed=0, tolerance=KERNEL_TOLERANCE, reference_on_backend=False):
    """Check ``backend``'s override of ``kernel`` (a :class:`corenn.kernels.Kernel`) against the
    kernel's reference, on every example call of the kernel (see :func:`corenn.kernels.kernel`):
    the same float64 inputs, moved to the backend's arrays, given to each; every array each
    returns compared, norm-wise, within ``tolerance``. With ``reference_on_backend`` it checks
    the reference itself on ``backend``'s arrays against the reference on numpy's instead: a
    backend that overrides nothing runs every component through these.

    Kernels that an example calls first (a forward before its backward) run the same side:
    the backend's implementations for the override, the references for the reference. Returns
    a :class:`KernelCheck`; raises ``ValueError`` when ``backend`` has no override of the
    kernel (its reference runs there, so there is nothing to check) or the kernel has no
    examples. For a third-party backend::

        for kernel in kernels_with_examples():
            if kernel.override_for("cupy") is not None:
                report = check_kernel(kernel, "cupy")
                assert report.passed, report
    """
    from corenn.plugins import get_backend

    backend_object = get_backend(backend)
    override = kernel.override_for(backend)
    if override is None and not reference_on_backend:
        raise ValueError(
            f"backend {backend} has no override of kernel {kernel.qualified_name}: its reference runs there"
        )
    examples = kernel.load_examples()
    if examples is None:
        raise ValueError(f"kernel {kernel.qualified_name} declares no examples to check an override on")

    def calls(implementation_of, arrays=backend_object, side="the override"):
        def on_backend(value):
            if isinstance(value, np.ndarray):
                return arrays.asarray(value.copy())
            if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple of a kernel's scalars
                return value._make(on_backend(item) for item in value)
            if isinstance(value, (tuple, list)):
                return type(value)(on_backend(item) for item in value)
            return value

        def run(other, *args, **kwargs):
            given_args, given_kwargs = on_backend(args), {k: on_backend(v) for k, v in kwargs.items()}
            # the arrays made here from the example's, with their values, to see which the call changes
            made = [(f"{i + 1}", given_args[i]) for i, value in enumerate(args) if isinstance(value, np.ndarray)]
            made += [(repr(k), given_kwargs[k]) for k, value in kwargs.items() if isinstance(value, np.ndarray)]
            before = [(where, array, arrays.to_numpy(array).copy()) for where, array in made]
            result = implementation_of(other)(*given_args, **given_kwargs)
            returned = {id(item) for item in _flattened(result)}
            for where, array, values in before:
                after = arrays.to_numpy(array)
                if id(array) not in returned and not np.array_equal(after, values, equal_nan=after.dtype.kind in "fc"):
                    written.append(f"{side} of {other.name} wrote into its argument {where}, which it does not return")
            return result

        results, written = [], []
        for args, kwargs in examples(np.random.default_rng(seed), run):
            results.append(_arrays_in(run(kernel, *args, **kwargs), arrays))
        return results, written

    if reference_on_backend:
        expected, _ = calls(lambda other: other.reference, get_backend("numpy"))
        actual, written = calls(lambda other: other.reference, side="the reference")
        checked = f"the reference on {backend}'s arrays"
    else:
        expected, _ = calls(lambda other: other.reference)
        actual, written = calls(lambda other: other.implementation_for(backend))
        checked = override.origin
    # a kernel never writes into what it is given (its caller may read it again), unless it
    # returns that very array (the optimizers' steps, which update in place)
    errors, failures = {}, sorted(set(written))
    for number, (want, got) in enumerate(zip(expected, actual, strict=True)):
        for index, (reference_array, override_array) in enumerate(zip(want, got, strict=False)):
            where = f"call {number}, output {index}"
            if reference_array is None or override_array is None:
                if (reference_array is None) != (override_array is None):
                    failures.append(
                        f"{where}: the reference returned {_describe_output(reference_array)}, the override {_describe_output(override_array)}"
                    )
                continue
            if reference_array.shape != override_array.shape or reference_array.dtype != override_array.dtype:
                failures.append(
                    f"{where}: the reference returned {_describe_output(reference_array)}, the override {_describe_output(override_array)}"
                )
                continue
            errors[where] = relative_error(override_array, reference_array)
        if len(want) != len(got):
            failures.append(f"call {number}: the reference returned {len(want)} outputs, the override {len(got)}")
    return KernelCheck(kernel.qualified_name, backend, checked, len(expected), errors, tolerance, tuple(failures))


def _arrays_in(result, backend):
    """The arrays a kernel returned, flattened in order, as numpy arrays (``None`` kept; other
    objects, like a forward's ``saved``, left out: only the kernel that made them reads them)."""
    arrays = []
    for item in _flattened(result):
        if item is None:
            arrays.append(None)
        elif hasattr(item, "shape") and hasattr(item, "dtype"):
            arrays.append(backend.to_numpy(item))
        elif isinstance(item, (int, float)):
            arrays.append(np.asarray(item))
    return arrays


def _flattened(result):
    """Every object in a kernel's result, nested tuples and lists opened."""
    if isinstance(result, (tuple, list)):
        return [item for part in result for item in _flattened(part)]
    return [result]


def _describe_output(array):
    return "None" if array is None else f"shape {tuple(array.shape)} {array.dtype}"
