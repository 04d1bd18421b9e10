"""The hooks a corenn plugin may implement.

A plugin is a module (or any object) named by an entry point in the group ``corenn.plugins``.
It implements any of the hooks below, each function marked with ``@corenn.hookimpl``.
These docstrings are the reference documentation of the hooks.
"""

import pluggy

PROJECT_NAME = "corenn"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def corenn_register_components(register):
    """Register the components this plugin provides.

    Call ``register(kind, name, factory, *, backend="numpy")`` once per component:

    - ``kind`` is one of ``layer``, ``activation``, ``loss``, ``optimizer``, ``scheduler``,
      ``initializer``, ``dataset``;
    - ``name`` is the name configs use (``"fully_connected"``, ``"relu"``, ...);
    - ``factory`` builds the component from the config's keyword options. Give it as a
      ``"package.module:attr"`` string so that listing plugins imports nothing heavy; it is
      imported the first time the component is created;
    - ``backend`` is the array library the component works on (``"numpy"`` or ``"torch"``).

    Registering a (kind, name, backend) that another distribution already registered is an
    error naming both distributions. A plugin whose registration raises is reported by
    ``corenn plugins`` and skipped; none of its components are registered.
    """


@hookspec(firstresult=True)
def corenn_array_backend(backend):
    """Return the trainer's array backend class for ``backend``, or ``None`` for other backends.

    The trainer is the same code for every backend; what differs (moving the data to a device,
    indexing batches, counting correct predictions, turning off gradient tracking, batched
    augmentation) goes through an array backend object. numpy's is built in
    (:class:`corenn.trainer.NumpyArrays`, the reference for the methods); a plugin that adds a
    backend returns a class whose ``for_device(device)`` builds one. Import the heavy library
    inside this hook, not at the top of the plugin module, so that listing plugins stays cheap.
    """


@hookspec
def corenn_train_start(run):
    """Called once before the first epoch (also when a run is resumed).

    ``run`` is a :class:`corenn.trainer.TrainingRun`: its ``config``, ``model``, ``run_dir``
    (``None`` when nothing is recorded) and ``epochs``. Set ``run.stop_requested = True`` to
    end training after the current epoch.
    """


@hookspec
def corenn_epoch_end(run, epoch, metrics):
    """Called after each epoch's validation, with ``epoch`` counting from 1.

    ``metrics`` is a dict of floats: ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy``, ``learning_rate`` and ``seconds`` (the epoch's wall time); the two
    ``val_`` entries are absent when the data set has no validation split (``val_size = 0``).
    Early stopping sets ``run.stop_requested = True`` here.
    """


@hookspec
def corenn_train_end(run, metrics):
    """Called once after training, with the last epoch's metrics plus ``test_loss`` and
    ``test_accuracy`` when the data set has a test split. Not called when training failed.
    """
