"""corenn-example-plugin: a third-party corenn plugin, meant to be copied.

It adds the activation ``swish`` and the layer ``scale_shift``. corenn finds it through the
entry point in ``pyproject.toml``; :mod:`corenn_example.plugin` registers the components.
"""
