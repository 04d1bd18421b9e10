"""corenn-fc: the fully connected layer, batch norm, dropout, the residual block and the activations, for every backend.

corenn finds this package through its ``corenn.plugins`` entry point (:mod:`corenn_fc.plugin`);
build components with ``corenn.create("layer", "fully_connected", ...)`` rather than importing
them from here. Each component is written once; :mod:`corenn_fc.kernels` holds numpy's kernels.
"""
