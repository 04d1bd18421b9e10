"""Registers "relu" (corenn-fc's) and a name of its own; corenn must refuse the plugin, not corenn-fc."""

import corenn


class Relu:
    def forward(self, Z):
        return Z * (Z > 0)

    def backward(self, Z, dY):
        return dY * (Z > 0)


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "relu", Relu)
    register("activation", "shadow_relu", Relu)
