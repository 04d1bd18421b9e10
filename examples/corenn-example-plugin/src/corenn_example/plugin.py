"""The module the ``corenn.plugins`` entry point names: corenn imports it and calls its hooks.

Keep it light. The factories are ``"module:attr"`` strings, so ``corenn plugins`` and
``corenn --help`` import nothing more than this file; corenn imports
``corenn_example.swish`` the first time somebody creates a ``swish``.

The components are written once and registered for backend ``"any"``: they serve every
backend corenn has (numpy, and torch when corenn-torch is installed), since their math is plain
array code and their inputs come in through the backend object (``self.backend``). ``conv1d``
and ``rmsprop`` declare their math as kernels in their own modules (``@kernel`` from
``corenn.kernels``, the references the plain math), which every backend runs; torch gets a
faster conv1d forward from :mod:`corenn_example.torch_kernels`, a module of overrides
registered for the torch backend alone, imported only when that backend is used.

Besides the registration, the plugin implements two lifecycle hooks (see
:mod:`corenn_example.target_accuracy`): a run whose config sets ``[plugins.example]
target_accuracy = 0.95`` stops once its validation accuracy reaches it.
"""

import corenn

from corenn_example import target_accuracy

ANY = "any"


@corenn.hookimpl
def corenn_register_components(register):
    register("activation", "swish", "corenn_example.swish:Swish", backend=ANY)
    register("layer", "scale_shift", "corenn_example.scale_shift:ScaleShift", backend=ANY)
    register("layer", "conv1d", "corenn_example.conv1d:Conv1D", backend=ANY)
    register("loss", "huber", "corenn_example.huber:Huber", backend=ANY)
    register("optimizer", "rmsprop", "corenn_example.rmsprop:RMSprop", backend=ANY)
    register("scheduler", "step_decay", "corenn_example.step_decay:StepDecay", backend=ANY)
    register("initializer", "orthogonal", "corenn_example.orthogonal:orthogonal", backend=ANY)
    register("dataset", "spirals", "corenn_example.spirals:load_spirals")
    register("kernels", "corenn_example.torch_kernels", backend="torch")


@corenn.hookimpl
def corenn_check_config(config):
    target_accuracy.check_table(config)


@corenn.hookimpl
def corenn_epoch_end(run, epoch, metrics):
    target_accuracy.stop_when_reached(run, epoch, metrics)
