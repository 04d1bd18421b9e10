"""WRONG: imports something slow at the top of the plugin module (here, a sleep of 0.6 s), which
every corenn command then pays; the fix is to import it in the factory's module."""

import time

import corenn

time.sleep(0.6)


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "slow_identity", "corenn_test_slow.hooks:Identity", backend="any")


class Identity:
    def forward(self, Z):
        return Z

    def backward(self, Z, dY):
        return dY
