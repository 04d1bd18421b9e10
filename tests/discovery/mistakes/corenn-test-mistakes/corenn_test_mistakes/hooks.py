import corenn

LAYERS = "corenn_test_mistakes.layers"


@corenn.hookimpl
def corenn_register_components(register):
    register("layer", "dense", f"{LAYERS}:Dense", backend="any")
    register("layer", "wrong_dw", f"{LAYERS}:WrongWeightGradient", backend="any")
    register("layer", "padded_dx", f"{LAYERS}:PaddedInputGradient", backend="any")
    register("layer", "wrong_bias_shape", f"{LAYERS}:WrongBiasShape", backend="any")
    register("layer", "typo_forward", f"{LAYERS}:TypoInForward", backend="any")
    register("backend", "numpy_twin", "corenn_test_mistakes.twin:NumpyTwin")
