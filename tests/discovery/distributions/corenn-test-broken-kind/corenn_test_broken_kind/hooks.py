import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "kind_ok", "corenn_test_broken_kind.hooks:Nothing")
    register("widget", "gizmo", "corenn_test_broken_kind.hooks:Nothing")
