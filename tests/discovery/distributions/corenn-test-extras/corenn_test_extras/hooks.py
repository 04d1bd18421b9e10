"""Registers the components of :mod:`corenn_test_extras.components` by ``"module:attr"`` strings."""

import corenn

COMPONENTS = "corenn_test_extras.components"


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "leaky_relu", f"{COMPONENTS}:LeakyReLU")
    register("layer", "layer_norm", f"{COMPONENTS}:LayerNorm")
    register("layer", "layer_norm_ignoring_gamma", f"{COMPONENTS}:LayerNormIgnoringGamma")
    register("layer", "drops_a_column", f"{COMPONENTS}:DropsAColumn")
    register("layer", "row_shaped_gradient", f"{COMPONENTS}:RowShapedGradient")
