"""corenn-torch: the ``torch`` backend, the PyTorch kernels corenn's components call and the trainer's torch arrays.

corenn's components are written once and registered by their packages for backend "any";
this package registers the kernels they call (:mod:`corenn_torch.kernels`), so every one of
them runs on torch tensors, on the CPU or a GPU, with the same options::

    layer = corenn.create("layer", "conv2d", backend="torch", n_out=8, kernel_shape=3)

Importing this package imports nothing heavy; torch is imported by the kernel modules, the
first time a component built for torch calls one.
"""
