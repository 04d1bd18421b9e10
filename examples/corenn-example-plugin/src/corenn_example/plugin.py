"""The module the ``corenn.plugins`` entry point names: corenn imports it and calls its hooks.

Keep it light. The factories are ``"module:attr"`` strings, so ``corenn plugins`` and
``corenn --help`` import nothing more than this file; corenn imports
``corenn_example.swish`` the first time somebody creates a ``swish``.

Both components are written once and registered for backend ``"any"``: they serve every
backend corenn has (numpy, and torch when corenn-torch is installed), since they call no kernel
beyond the array kernels every backend registers. A component that needed a routine the
backends compute differently would list it, ``kernels=("my_kernel",)``, and register that
kernel per backend.
"""

import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "swish", "corenn_example.swish:Swish", backend="any")
    register("layer", "scale_shift", "corenn_example.scale_shift:ScaleShift", backend="any")
