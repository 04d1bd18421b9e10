"""The right name, but no marker: pluggy does not see the function at all."""


class Identity:
    def forward(self, Z):
        return Z

    def backward(self, Z, dY):
        return dY


def corenn_register_components(register):
    register("activation", "unmarked_identity", Identity)
