import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("layer", "scaled_undeclared", "corenn_test_undeclared_override.layer:Scaled", backend="any")
    register("kernels", "corenn_test_undeclared_override.fast", backend="numpy")
