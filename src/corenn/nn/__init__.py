"""The network's components and what they are built on.

- :mod:`~corenn.nn.component`: the base of every component written once (the backend it was
  built for);
- :mod:`~corenn.nn.layers`: the ``Layer`` base and the helpers every layer uses (activations,
  initializers, option checks); :mod:`~corenn.nn.composite`: layers made of layers;
  :mod:`~corenn.nn.geometry`: window geometry of convolutions and pooling;
- :mod:`~corenn.nn.losses`, :mod:`~corenn.nn.optimizers` (with their update kernels),
  :mod:`~corenn.nn.schedulers`, :mod:`~corenn.nn.initializers`: the core's own components of
  those kinds; :mod:`~corenn.nn.fast_optimizers` and :mod:`~corenn.nn.optimizer_formulas`: numpy's
  overrides of the update kernels and the in-place formulas they (and torch's) run;
  :mod:`~corenn.nn.kernel_examples`: the kernels' examples, for checking overrides;
- :mod:`~corenn.nn.model`: ``Sequential``, the network a config describes;
- :mod:`~corenn.nn.backward_checks`: checks of what a layer's ``backward`` returns.
"""
