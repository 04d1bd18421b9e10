"""Registers "fully_connected" again; loaded before corenn-fc by name, it must still be the one refused."""

import corenn


class Identity:
    def __init__(self, n_out=1):
        self.n_out = n_out


@corenn.hookimpl
def corenn_register_components(register):
    register("layer", "fully_connected", Identity)
