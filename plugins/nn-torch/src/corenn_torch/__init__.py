"""corenn-torch: corenn's components on torch tensors, the ``torch`` backend.

Every component here is registered under the same name as its numpy twin, with
``backend="torch"`` (see :mod:`corenn_torch.plugin`), and takes the same options::

    layer = corenn.create("layer", "conv2d", backend="torch", n_out=8, kernel_shape=3)

Importing this package imports nothing heavy; torch is imported by the component modules,
the first time a torch component is created.
"""
