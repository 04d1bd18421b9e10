"""The torch backend's kernels, one module per family, registered by :mod:`corenn_torch.plugin`."""
