"""Registers "twin", as corenn-test-twin-a and -b both do, and "only_a", which no one else does."""

import corenn


class Twin:
    def forward(self, Z):
        return Z

    def backward(self, Z, dY):
        return dY


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "twin", Twin)
    register("activation", "only_a", Twin)
