"""The torch backend's overrides of the declared kernels, one module per family, each function marked
``@override("package.module:kernel")``; :mod:`corenn_torch.plugin` registers the modules."""
