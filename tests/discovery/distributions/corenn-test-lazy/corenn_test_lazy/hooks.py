import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "missing_module", "corenn_test_lazy.nowhere:Thing")
    register("activation", "missing_attr", "corenn_test_lazy.hooks:NoSuchThing")
