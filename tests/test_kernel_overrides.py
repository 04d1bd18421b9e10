"""Every numpy override of a declared kernel gives what the kernel's reference gives, on the
kernel's own examples (batch 1, strided, padded, non-square shapes), in float64 to 1e-10.

The kernels are those declared by the installed packages (corenn, corenn-fc, corenn-conv here);
corenn-torch's suite checks its overrides the same way.
"""

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
