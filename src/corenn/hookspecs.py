"""The hooks a corenn plugin may implement.

A plugin is a module (or any object) named by an entry point in the group ``corenn.plugins``.
It implements any of the hooks below, each function marked with ``@corenn.hookimpl`` and named
exactly as here (the ``corenn_`` prefix is reserved for hooks). These docstrings are the
reference documentation of the hooks; the author's guides (``docs/plugins/``) show them at work
in the example plugin.

A lifecycle hook of a third-party plugin that raises is reported on stderr in one line, the
first time it fails in a run (its later failures in that hook are counted, and their number
said when the run ends), and training goes on; under ``CORENN_STRICT_PLUGINS=1`` it is an
error. Each implementation gets its own copy of ``metrics``: changing it changes nothing the
trainer or another plugin reads.
"""

import pluggy

PROJECT_NAME = "corenn"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def corenn_register_components(register):
    """Register the components this plugin provides, and any backend or kernel overrides.

    Call ``register(kind, name, factory, *, backend="numpy")`` once per registration:

    - ``kind`` is a component's (``layer``, ``activation``, ``loss``, ``optimizer``,
      ``scheduler``, ``initializer``, ``dataset``), ``backend`` or ``kernels``;
    - ``name`` is the name configs use (``"fully_connected"``, ``"relu"``, ...);
    - ``factory`` builds the component from the config's keyword options. Give it as a
      ``"package.module:attr"`` string so that listing plugins imports nothing heavy; it is
      imported the first time the component is created;
    - ``backend`` is the backend the component is for, ``"numpy"`` by default, or ``"any"`` for
      a component written once, which serves every installed backend: it works on any
      backend's arrays through the array namespace (:func:`corenn.backend.array_namespace`), its
      backend object (``self.backend``) and the kernels it declares (:mod:`corenn.kernels`),
      whose references run wherever no backend overrides them;
    - a ``backend`` registration names a :class:`corenn.backend.Backend` class:
      ``register("backend", "cupy", "my_plugin.backend:CupyBackend")`` (no ``backend=``); it is
      imported the first time a run or a component asks for that backend;
    - a ``kernels`` registration names a module of one backend's kernel overrides:
      ``register("kernels", "my_plugin.cupy_kernels", backend="cupy")`` (no factory). It is
      imported when that backend is first used (numpy's by every run and by ``corenn plugins``,
      every backend's by ``corenn plugins --check``), and each of its ``@override`` functions is
      checked then: it must name a declared kernel, take exactly its parameters, and come from
      the package that declares the kernel or from the backend's own package; otherwise the
      plugin fails as below (see :mod:`corenn.kernels`).

    A component class may declare ``example_options`` (the option values ``corenn plugins
    --check``, ``corenn gradcheck`` and ``corenn describe`` build it with: required for one with
    options that have no default), ``option_values`` (the allowed values ``corenn describe``
    shows), ``option_defaults`` (the real default of an option whose signature holds a
    stand-in, ``test_size=None`` meaning 0.2) and, for a layer, ``example_input_shape`` (see :func:`corenn.registry.example_options_for`).

    A plugin loads whole or not at all: if its registration raises, registers an unknown kind
    or the same (kind, name, backend) twice, it is reported by ``corenn plugins`` (with its
    distribution, version and error; ``--debug`` prints the traceback) and skipped, and none of
    its components are registered. A plugin slower than half a second to import and register is
    named, with its time, by ``corenn plugins``: every command pays for it.

    Who gets a name never depends on entry-point names or install order:

    - the built-ins and corenn's own packages (corenn, corenn-fc, corenn-conv, corenn-torch)
      register first and keep their names: a third-party plugin registering one of them
      (``relu``, ``fully_connected``, ...) is the one that fails, its error naming both;
    - two third-party plugins registering the same (kind, name, backend) both fail, each
      naming the other: there is no override. The user keeps one by uninstalling the other or
      by switching it off with ``CORENN_DISABLE_PLUGINS=<entry point name>``.

    Only functions marked ``@corenn.hookimpl`` and named after a hook here are called. Any
    other function named ``corenn_*`` in a plugin module (a misspelling), a hook without the
    marker, a plugin implementing no hook, and ``kernels=...`` (what registrations took before
    kernels were declared) are warnings in ``corenn plugins`` and errors under
    ``CORENN_STRICT_PLUGINS=1``.
    """


@hookspec(firstresult=True)
def corenn_process_group(launch, arrays, timeout):
    """Start and return the process group of a data-parallel run, or ``None`` if this plugin has none.

    Called once per process, only when ``WORLD_SIZE`` is above 1 (a launch by ``torchrun`` or
    ``corenn train --nproc N``); a single process never calls it. ``launch`` is a
    :class:`corenn.run.distributed.Launch` (``rank``, ``local_rank``, ``world_size``), ``arrays``
    the run's array backend (its ``name`` and ``device``: the group must reduce arrays of that
    kind on that device), ``timeout`` the seconds any collective may wait for the other ranks.
    corenn-torch implements it on ``torch.distributed`` (gloo on CPUs, NCCL on CUDA devices);
    import the heavy library inside the hook.

    The group returned has ``rank`` and ``world_size`` and these methods (every rank calls each
    of them, in the same order):

    - ``all_reduce_sum(arrays, scalars=())``: sum the arrays (the backend's, one dtype, on its
      device) across ranks, in place, together with the numbers ``scalars`` (floats, or device
      scalars), in one or a few flat buffers, never one call per array; returns the summed
      scalars as a list of floats;
    - ``start_all_reduce_sum(arrays, scalars=())`` (optional): the same sum, started and not
      waited for; returns an object whose ``wait()`` finishes it (the arrays hold the sums then)
      and returns the summed scalars. The trainer starts one per bucket of gradients while
      backward still runs (:class:`corenn.run.distributed.GradientBuckets`); a group without it
      gets one ``all_reduce_sum`` of every gradient after the whole backward;
    - ``all_reduce_max(values)``: the element-wise maximum across ranks of a float64 numpy
      vector, as a new numpy vector;
    - ``broadcast(arrays)``: overwrite the arrays, in place, with rank 0's;
    - nothing more for synchronised batch norm (``sync_batch_norm`` in
      :class:`corenn.run.config.RunConfig`): the trainer makes the group each batch-norm
      layer's ``process_group``, whose kernels (``sync_batch_norm_forward`` and ``_backward`` in
      ``corenn_fc.normalization``) take their statistics over the global batch with
      ``all_reduce_sum``;
    - ``close()``: leave the group.
    """


@hookspec
def corenn_check_config(config):
    """Check this plugin's own ``[plugins.<name>]`` table of a run's config (``config.plugins``, a
    dict of tables) before anything of the run is built or recorded; also when a run is resumed.

    Raise :class:`corenn.errors.ConfigError` naming the key and what is allowed (for example
    ``plugins.tensorboard.flush_seconds must be a positive number, got -1``): the run then does
    not start and ``corenn train`` prints that one line and exits with status 1. A table without
    an installed plugin of that name is only a warning, so a config still runs where an optional
    plugin is not installed.
    """


@hookspec
def corenn_train_start(run):
    """Called once before the first epoch (also when a run is resumed).

    ``run`` is a :class:`corenn.run.loop.TrainingRun`: its ``config``, ``model``, ``run_dir``
    (``None`` when nothing is recorded) and ``epochs``. Set ``run.stop_requested = True`` to
    end training after the current epoch.
    """


@hookspec
def corenn_step_end(run, step, metrics):
    """Called after each update, with ``step`` counting from 1 over the whole run (a resumed run
    goes on from its last step), for live per-step curves.

    ``metrics`` is a dict of floats: ``loss`` (the mini-batch's loss before the update, as in
    ``run.step_losses``), ``accuracy`` (the fraction of the mini-batch predicted right before the
    update) and ``learning_rate`` (as in ``run.step_learning_rates``). The trainer calls it only
    when a plugin or callback implements it: training without one pays nothing for it. Keep it
    cheap; it runs between two updates.
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
