"""The module the ``corenn.plugins`` entry point names: corenn imports it and calls its hooks.

Keep it light. The factories are ``"module:attr"`` strings, so ``corenn plugins`` and
``corenn --help`` import nothing more than this file; corenn imports
``corenn_example.swish`` the first time somebody creates a ``swish``.

Both components are written once and registered for backend ``"any"``: they serve every
backend corenn has (numpy, and torch when corenn-torch is installed), since their math is plain
array code and their inputs come in through the backend object (``self.backend``). A component
whose math a backend could run faster would declare a kernel beside it (``@kernel`` from
``corenn.kernels``, its reference the plain math); a backend's faster version is an override
registered with ``register("kernels", "my_plugin.fast", backend="numpy")``.
"""

import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "swish", "corenn_example.swish:Swish", backend="any")
    register("layer", "scale_shift", "corenn_example.scale_shift:ScaleShift", backend="any")
