"""Every numpy override of a declared kernel gives what the kernel's reference gives, on the
kernel's own examples (batch 1, strided, padded, non-square shapes), in float64 to 1e-10.

The kernels are those declared by the installed packages (corenn, corenn-fc, corenn-conv here);
corenn-torch's suite checks its overrides the same way.
"""

import types

import pytest

from corenn.plugins import get_backend, get_plugins
from corenn.testing import check_kernel, kernels_with_examples

get_backend("numpy")  # installs numpy's overrides, which the parametrization below reads
KERNELS = kernels_with_examples()


def test_every_declared_kernel_has_examples_to_check_overrides_on():
    assert KERNELS, "no kernel declared by the installed packages has examples"
    system = get_plugins()
    declared = [kernel for kernel in system.declared_kernels() if system.declaring_distribution(kernel)]
    assert [kernel.qualified_name for kernel in declared if kernel.examples is None] == []


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda kernel: kernel.name)
def test_the_numpy_override_gives_the_reference(kernel):
    if kernel.override_for("numpy") is None:
        pytest.skip("numpy runs the reference itself")
    report = check_kernel(kernel, "numpy")
    assert report.passed, report


def doubled_examples(rng, run):
    yield (rng.standard_normal((3, 4)),), {}


def test_an_override_that_writes_into_an_argument_it_does_not_return_fails(monkeypatch):
    """Its outputs equal the reference's, so only the write shows it: the caller's X changed
    (a layer's cached input, read again by backward)."""
    from corenn import kernels

    monkeypatch.setattr(kernels, "_declared", dict(kernels._declared))  # the kernel below stays this test's

    def doubled(X):
        return 2.0 * X

    def doubled_in_place(X):
        X *= 2.0
        return X.copy()

    kernel = kernels.Kernel(doubled, doubled_examples)
    override = types.SimpleNamespace(origin="tests:doubled_in_place", function=doubled_in_place)
    monkeypatch.setattr(kernel, "override_for", lambda backend: override)
    monkeypatch.setattr(kernel, "implementation_for", lambda backend: doubled_in_place)
    report = check_kernel(kernel, "numpy")
    assert report.max_error == 0.0 and not report.passed
    assert report.failures == ("the override of doubled wrote into its argument 1, which it does not return",)
