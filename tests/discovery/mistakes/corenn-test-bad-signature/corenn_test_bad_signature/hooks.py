import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("layer", "scaled_bad_signature", "corenn_test_bad_signature.layer:Scaled", backend="any")
    register("kernels", "corenn_test_bad_signature.fast", backend="numpy")
