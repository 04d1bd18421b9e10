"""corenn-fc: the fully connected layer, batch norm, dropout, the residual block and the activations, for every backend.

corenn finds this package through its ``corenn.plugins`` entry point (:mod:`corenn_fc.plugin`);
build components with ``corenn.create("layer", "fully_connected", ...)`` rather than importing
them from here. Each component is written once, for every backend, beside the kernels it calls
(each declared with its reference, the course's math); :mod:`corenn_fc.fast` holds numpy's
faster versions of some of them.
"""
