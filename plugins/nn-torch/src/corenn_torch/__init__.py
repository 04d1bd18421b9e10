"""corenn-torch: the ``torch`` backend, its overrides of the declared kernels and its process group.

corenn's components are written once and registered by their packages for backend "any"; this
package adds the backend object (:mod:`corenn_torch.backend`) and PyTorch's versions of the
kernels those components declare (:mod:`corenn_torch.kernels`), so every one of them runs on
torch tensors, on the CPU or a GPU, with the same options::

    layer = corenn.create("layer", "conv2d", backend="torch", n_out=8, kernel_shape=3)

Importing this package imports nothing heavy; torch is imported with the backend, the first
time a run or a component asks for it.
"""
