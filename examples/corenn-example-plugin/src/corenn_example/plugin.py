"""The module the ``corenn.plugins`` entry point names: corenn imports it and calls its hooks.

Keep it light. The factories are ``"module:attr"`` strings, so ``corenn plugins`` and
``corenn --help`` import nothing more than this file; corenn imports
``corenn_example.swish`` the first time somebody creates a ``swish``.

The components are written once and registered for backend ``"any"``: they serve every
backend corenn has (numpy, and torch when corenn-torch is installed), since their math is plain
array code and their inputs come in through the backend object (``self.backend``). ``conv1d``
declares its math as kernels in its own module (``@kernel`` from ``corenn.kernels``, the
references the plain math), which every backend runs; torch gets a faster forward from
:mod:`corenn_example.torch_kernels`, a module of overrides registered for the torch backend
alone, imported only when that backend is used.
"""

import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "swish", "corenn_example.swish:Swish", backend="any")
    register("layer", "scale_shift", "corenn_example.scale_shift:ScaleShift", backend="any")
    register("layer", "conv1d", "corenn_example.conv1d:Conv1D", backend="any")
    register("kernels", "corenn_example.torch_kernels", backend="torch")
