"""The layers are plain numpy: registered for numpy and for numpy_twin, the backend this
plugin adds (numpy's arrays under another name), never for torch."""

import corenn

LAYERS = {
    "dense": "Dense",
    "wrong_dw": "WrongWeightGradient",
    "padded_dx": "PaddedInputGradient",
    "wrong_bias_shape": "WrongBiasShape",
    "typo_forward": "TypoInForward",
}


@corenn.hookimpl
def corenn_register_components(register):
    register("backend", "numpy_twin", "corenn_test_mistakes.twin:NumpyTwin")
    for backend in ("numpy", "numpy_twin"):
        for name, attribute in LAYERS.items():
            register("layer", name, f"corenn_test_mistakes.layers:{attribute}", backend=backend)
