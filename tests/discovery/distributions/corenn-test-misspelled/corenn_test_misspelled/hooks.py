"""``corenn_register_component``: marked, but no such hook exists, so it is never called."""

import corenn


class Identity:
    def forward(self, Z):
        return Z

    def backward(self, Z, dY):
        return dY


@corenn.hookimpl
def corenn_register_component(register):
    register("activation", "misspelled_identity", Identity)
