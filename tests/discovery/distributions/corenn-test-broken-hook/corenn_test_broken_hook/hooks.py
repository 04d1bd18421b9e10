import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "half_registered", "corenn_test_broken_hook.hooks:Nothing")
    raise ValueError("corenn-test-broken-hook fails while registering")
