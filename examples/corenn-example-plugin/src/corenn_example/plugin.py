"""The module the ``corenn.plugins`` entry point names: corenn imports it and calls its hooks.

Keep it light. The factories are ``"module:attr"`` strings, so ``corenn plugins`` and
``corenn --help`` import nothing more than this file; corenn imports
``corenn_example.swish`` the first time somebody creates a ``swish``.
"""

import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "swish", "corenn_example.swish:Swish", backend="numpy")
    register("layer", "scale_shift", "corenn_example.scale_shift:ScaleShift", backend="numpy")
