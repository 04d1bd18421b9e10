"""The network's components and what they are built on.

- :mod:`~corenn.nn.kernels`: the kernel protocol that lets a component be written once for every
  backend; :mod:`~corenn.nn.numpy_kernels`: numpy's array kernels;
- :mod:`~corenn.nn.layers`: the ``Layer`` base and the helpers every layer uses (activations,
  initializers, option checks); :mod:`~corenn.nn.composite`: layers made of layers;
  :mod:`~corenn.nn.geometry`: window geometry of convolutions and pooling;
  :mod:`~corenn.nn.whitening`: the patch-whitening math;
- :mod:`~corenn.nn.losses`, :mod:`~corenn.nn.optimizers`, :mod:`~corenn.nn.schedulers`,
  :mod:`~corenn.nn.initializers`: the core's own components of those kinds;
- :mod:`~corenn.nn.model`: ``Sequential``, the network a config describes;
- :mod:`~corenn.nn.backward_checks`: checks of what a layer's ``backward`` returns.
"""
