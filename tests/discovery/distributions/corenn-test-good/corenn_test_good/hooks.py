"""The entry point's module: registers by "module:attr" strings, so listing imports nothing else."""

import corenn


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "cube", "corenn_test_good.components:Cube")
    register("layer", "double", "corenn_test_good.components:Double")
