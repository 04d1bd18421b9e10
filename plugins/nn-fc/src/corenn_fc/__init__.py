"""corenn-fc: the fully connected layer and the activations, on numpy.

corenn finds this package through its ``corenn.plugins`` entry point (:mod:`corenn_fc.plugin`);
build components with ``corenn.create("layer", "fully_connected", ...)`` rather than importing
them from here.
"""
