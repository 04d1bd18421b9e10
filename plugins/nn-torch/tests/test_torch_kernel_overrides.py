"""Every torch override of a declared kernel gives what the kernel's reference gives, and every
reference runs on torch tensors as on numpy arrays (so a backend without an override of a kernel
still runs it), on the kernel's own examples, in float64 to 1e-10."""

import pytest

from corenn.plugins import get_backend
from corenn.testing import check_kernel, kernels_with_examples

get_backend("torch")  # installs torch's overrides, which the parametrization below reads
KERNELS = kernels_with_examples()


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda kernel: kernel.name)
def test_the_torch_override_gives_the_reference(kernel):
    if kernel.override_for("torch") is None:
        pytest.skip("torch runs the reference itself")
    report = check_kernel(kernel, "torch")
    assert report.passed, report


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda kernel: kernel.name)
def test_the_reference_runs_on_torch_tensors_as_on_numpy_arrays(kernel):
    report = check_kernel(kernel, "torch", reference_on_backend=True)
    assert report.passed, report
