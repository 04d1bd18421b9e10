"""Checks for component authors: finite-difference gradients, protocol conformance, agreement
across backends, optimizers against their reference, kernel overrides against theirs.

Plugin authors import this in their own tests::

    from corenn.testing import check_layer_conformance, check_layer_gradients

    def test_my_layer_gradients():
        errors = check_layer_gradients(MyLayer(n_out=3), np.random.default_rng(0).normal(size=(4, 5)))
        assert max(errors.values()) < 1e-6

    def test_my_layer_follows_the_protocol_and_its_gradients_are_right():
        check_layer_conformance(lambda: MyLayer(n_out=3))

Its parts, one module each:

- :mod:`corenn.testing.gradients`: finite differences, ``check_*_gradients`` and
  :func:`gradcheck` (``corenn gradcheck``);
- :mod:`corenn.testing.conformance`: ``check_layer_conformance``,
  ``check_activation_conformance``, ``check_loss_conformance`` (the protocol, shapes, dtypes, and
  the gradients by finite differences on every installed backend);
- :mod:`corenn.testing.optimizers`: :func:`check_optimizer_conformance`;
- :mod:`corenn.testing.plain_kinds`: ``check_scheduler_conformance``,
  ``check_initializer_conformance``, ``check_dataset_conformance``;
- :mod:`corenn.testing.across_backends`: :func:`check_across_backends`;
- :mod:`corenn.testing.kernel_checks`: :func:`check_kernel`;
- :mod:`corenn.testing.plugin_systems`: in-memory plugins for tests, and a Ctrl-C at an epoch's end.

The author's guides (``docs/plugins/``) say which check each kind of component needs.
"""

from corenn.testing.across_backends import (
    CROSS_BACKEND_TOLERANCES,
    BackendNotInstalled,
    CrossBackendReport,
    check_across_backends,
)
from corenn.testing.conformance import (
    COURSE_LAYER_METHODS,
    check_activation_conformance,
    check_course_layer_api,
    check_layer_conformance,
    check_loss_conformance,
    conformance_backends,
)
from corenn.testing.gradients import (
    DEFAULT_STEP,
    DEFAULT_TOLERANCE,
    FixedRandomness,
    GradcheckReport,
    check_activation_gradients,
    check_layer_gradients,
    check_loss_gradients,
    example_classification_batch,
    gradcheck,
    gradient_errors,
    numerical_gradient,
    perturb_parameters,
    perturbed_parameters,
    relative_error,
)
from corenn.testing.kernel_checks import KERNEL_TOLERANCE, KernelCheck, check_kernel, kernels_with_examples
from corenn.testing.optimizers import OPTIMIZER_TOLERANCE, check_optimizer_conformance
from corenn.testing.plain_kinds import (
    check_dataset_conformance,
    check_initializer_conformance,
    check_scheduler_conformance,
)
from corenn.testing.plugin_systems import InterruptAtEpochEnd, plugin_system_from, plugins_in_use

__all__ = [
    "COURSE_LAYER_METHODS",
    "CROSS_BACKEND_TOLERANCES",
    "DEFAULT_STEP",
    "DEFAULT_TOLERANCE",
    "KERNEL_TOLERANCE",
    "OPTIMIZER_TOLERANCE",
    "BackendNotInstalled",
    "CrossBackendReport",
    "FixedRandomness",
    "GradcheckReport",
    "InterruptAtEpochEnd",
    "KernelCheck",
    "check_across_backends",
    "check_activation_conformance",
    "check_activation_gradients",
    "check_course_layer_api",
    "check_dataset_conformance",
    "check_initializer_conformance",
    "check_kernel",
    "check_layer_conformance",
    "check_layer_gradients",
    "check_loss_conformance",
    "check_loss_gradients",
    "check_optimizer_conformance",
    "check_scheduler_conformance",
    "conformance_backends",
    "example_classification_batch",
    "gradcheck",
    "gradient_errors",
    "kernels_with_examples",
    "numerical_gradient",
    "perturb_parameters",
    "perturbed_parameters",
    "plugin_system_from",
    "plugins_in_use",
    "relative_error",
]
