"""Building a run from its config: the data, the model, the loss, the optimizer, the scheduler
and the array backend, all checked before anything is recorded; and the trainer over them.
"""

import contextlib
import difflib
import math
import sys

import attrs
import numpy as np

from corenn.data.loader import check_image_options, prepare
from corenn.errors import ConfigError, CorennError, PluginError, closest_name, did_you_mean
from corenn.kernels import reference_kernels
from corenn.nn.model import Sequential
from corenn.plugins import create, get_backend, get_plugins
from corenn.registry import option_names
from corenn.run.distributed import check_world_fits, start_process_group
from corenn.run.loop import Trainer, TrainingRun
from corenn.run.resources import check_training_memory, parameter_memory_check

SHUFFLE_STREAM = 0x5EED
AUGMENT_STREAM = 0xA06


def _component(kind, component_config, backend, where, **extra):
    try:
        return create(kind, component_config.name, backend, **component_config.options, **extra)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


# [dataset] keys the trainer reads (see DatasetConfig), never passed to the data set's factory
TRAINER_DATASET_KEYS = ("batch_size", "augment", "test_augment")


def _check_dataset_options(dataset):
    """A ``[dataset]`` key that the data set does not take but that looks like one of the
    trainer's (``batchsize``) is named as such; the data set's own options are checked when it
    is made."""
    try:
        factory = get_plugins().registry.get("dataset", dataset.name, "numpy").load()
    except CorennError:
        return  # an unknown or broken data set: creating it says what is wrong
    allowed = option_names(factory)
    for key in dataset.options:
        if allowed is not None and key not in allowed and closest_name(key, TRAINER_DATASET_KEYS) is not None:
            own = [name for name in allowed if name != "data_dir"]
            raise ConfigError(
                f"dataset: data set {dataset.name!r} has no option {key!r}{did_you_mean(key, TRAINER_DATASET_KEYS)}; "
                f"[dataset] takes {', '.join(TRAINER_DATASET_KEYS)}"
                + (f", and {dataset.name}'s own options: {', '.join(own)}" if own else "")
            )


def _scheduler_options(config, optimizer, n_train):
    """``initial_lr`` always; ``total_steps`` (the run's number of updates) when the scheduler
    takes it and the config does not set it."""
    extra = {"initial_lr": optimizer.lr}
    try:
        factory = get_plugins().registry.get("scheduler", config.scheduler.name, config.backend).load()
    except CorennError:
        return extra  # an unknown or broken scheduler: create() below says what is wrong
    names = option_names(factory)
    if names is not None and "total_steps" in names and "total_steps" not in config.scheduler.options:
        extra["total_steps"] = config.epochs * math.ceil(n_train / config.dataset.batch_size)
    return extra


MIXED_PRECISION_DTYPE = "bfloat16"


def compute_dtype(config):
    """The dtype the layers' heavy products run in for ``config``: bfloat16 with
    ``mixed_precision = true`` (the config checked it is a float32 torch run), else ``None``,
    the input's dtype. For :meth:`Sequential.set_compute_dtype`."""
    return MIXED_PRECISION_DTYPE if config.mixed_precision else None


def chosen_kernels(config):
    """The block a run of ``config`` computes in, from building its model to its last evaluation:
    with ``kernels = "reference"``, :func:`corenn.kernels.reference_kernels` (every kernel runs its
    reference, on every backend); with ``"fast"``, no block of its own, so each backend's overrides
    run unless the run was started inside ``reference_kernels()``."""
    return reference_kernels() if config.kernels == "reference" else contextlib.nullcontext()


def build(config, *, data_dir=None):
    """Everything a run needs, built and checked before any record is written."""
    data, model, loss, optimizer, scheduler, _ = build_with_arrays(config, data_dir=data_dir)
    return data, model, loss, optimizer, scheduler


def _factory_takes(kind, name, option, backend="numpy"):
    """Whether the registered ``kind`` ``name``'s factory takes the keyword ``option``."""
    try:
        factory = get_plugins().registry.get(kind, name, backend).load()
    except CorennError:
        return False  # an unknown or broken component: create() says what is wrong
    names = option_names(factory)
    return names is not None and option in names


def dataset_splits(config, *, data_dir=None, dataset_config=None):
    """The splits of the data set of a run of ``config`` (or of ``dataset_config``, another data
    set read with its own options). A data set that can be read either way (``csv``, ``npz``,
    ``arrays``: a factory taking ``task``) is read for the run's task (see
    :func:`corenn.run.config.task_of`)."""
    from corenn.run.config import ComponentConfig, task_of

    dataset_config = dataset_config or config.dataset
    options = dict(dataset_config.options)
    if dataset_config is config.dataset and _factory_takes("dataset", dataset_config.name, "task"):
        options["task"] = task_of(config)[0]
    component = ComponentConfig(dataset_config.name, options)
    return _component("dataset", component, "numpy", "dataset", data_dir=data_dir)


def task_lines(config, splits):
    """What to tell the user about the data before training: the task when it was inferred
    (a regression: a classification is what a run always was), and the data set's notes."""
    from corenn.run.config import task_of

    lines = []
    task, reason = task_of(config)
    if reason is not None and splits.task == "regression":
        lines.append(f"task: regression (inferred from {reason}; set [dataset] task to choose)")
    return lines + list(getattr(splits, "notes", ()))


REGRESSION_BEST_METRICS = ("val_loss", "val_mse", "val_mae", "val_r2")


def best_metric_for(config, task):
    """The metric ``best.npz`` and early stopping go by for a run of ``task``: the config's
    ``best_metric``, except that a regression, which has no accuracy, goes by ``val_loss``
    where the config names ``val_accuracy`` (the default). A regression's error metric on a
    classification is an error naming the key."""
    metric = config.best_metric
    if task == "regression":
        return "val_loss" if metric == "val_accuracy" else metric
    if metric not in ("val_accuracy", "val_loss"):
        raise ConfigError(
            f'best_metric = {metric!r} scores a regression, but this run classifies: use "val_accuracy" or "val_loss"'
        )
    return metric


def _check_regression_outputs(config, data):
    """A regression network needs one output per target column: say so in those words (the
    model's own check speaks of classes)."""
    if data.task != "regression":
        return
    index = len(config.layers) - 1
    n_out = config.layers[index].options.get("n_out")
    if isinstance(n_out, int) and not isinstance(n_out, bool) and n_out != data.n_classes:
        raise ConfigError(
            f"layers[{index}].n_out = {n_out}, but the regression has {data.n_classes} target column(s) "
            f"({', '.join(data.class_names)}): the last layer needs one output per target; write "
            f'n_out = {data.n_classes} or n_out = "auto"'
        )


def build_with_arrays(config, *, data_dir=None, notes=None):
    """:func:`build`, plus the array backend the model's parameters were made on. ``notes``, a
    list, receives :func:`task_lines`."""
    arrays = get_backend(config.backend).on(config.device)
    _check_dataset_options(config.dataset)
    splits = dataset_splits(config, data_dir=data_dir)
    if notes is not None:
        notes.extend(task_lines(config, splits))
    check_image_options(splits.input_shape, config.dataset.name, config.dataset.augment, config.dataset.test_augment)
    data = prepare(splits, config.dtype)
    _check_regression_outputs(config, data)
    model = Sequential.from_config(config.layers, n_classes=data.n_classes, backend=config.backend, seed=config.seed)
    model.skip_input_gradient()
    if config.mixed_precision:
        model.set_compute_dtype(compute_dtype(config))
    model.initialize(
        splits.input_shape, config.dtype, to_device=arrays.to_device, check_parameters=parameter_memory_check(arrays)
    )
    loss = _component("loss", config.loss, config.backend, "loss")
    optimizer = _component("optimizer", config.optimizer, config.backend, "optimizer")
    extra = _scheduler_options(config, optimizer, len(data.train))
    scheduler = _component("scheduler", config.scheduler, config.backend, "scheduler", **extra)
    if not callable(scheduler):  # else the first step fails as "unexpected TypeError", naming nothing
        origin = get_plugins().registry.get("scheduler", config.scheduler.name, config.backend)
        raise PluginError(
            f"scheduler {config.scheduler.name!r} (from {origin.distribution}) is not callable: a scheduler is "
            f"scheduler(step) -> learning rate; give {type(scheduler).__name__} a __call__(self, step)"
        )
    return data, model, loss, optimizer, scheduler, arrays


def make_trainer(config, run_dir, *, data_dir, reporter, launch=None):
    """The trainer of a run of ``config``, over everything :func:`build_with_arrays` makes, with
    its generators seeded from the run's seed; ``reporter`` (a :class:`ConsoleReporter` or
    ``None``) shows the progress over the batches. ``launch`` (a
    :class:`corenn.run.distributed.Launch` of several processes) makes it one rank of a
    data-parallel run: it joins the process group, and with ``sync_batch_norm`` its batch-norm
    layers take their statistics over the global batch."""
    check_plugin_tables(config)
    notes = []
    data, model, loss, optimizer, scheduler, arrays = build_with_arrays(config, data_dir=data_dir, notes=notes)
    if launch is None or launch.is_main:  # warnings always, on stderr; other notes with the epochs' lines
        for line in notes:
            if line.startswith("warning:"):
                print(line, file=sys.stderr, flush=True)
            elif reporter is not None:
                print(line, file=getattr(reporter, "stream", sys.stdout), flush=True)
    metric = best_metric_for(config, data.task)
    if metric != config.best_metric:
        config = attrs.evolve(config, best_metric=metric)
    if config.restore_best and data.val is None:
        raise ConfigError(
            f"restore_best = true needs a validation split to choose the best epoch by, and data set "
            f"{config.dataset.name!r} has none here (val_size = 0?): give it one, or remove restore_best"
        )
    check_training_memory(model, min(config.dataset.batch_size, len(data.train)), arrays)
    group = None
    if launch is not None and launch.distributed:
        batch_norms = [layer for layer in _all_layers(model.layers) if getattr(layer, "name", None) == "batch_norm"]
        synced = bool(batch_norms) and config.sync_batch_norm
        check_world_fits(launch.world_size, config.dataset.batch_size, len(data.train), synced)
        group = start_process_group(launch, arrays)
        if config.sync_batch_norm:
            for layer in batch_norms:
                layer.process_group = group
    run = TrainingRun(config=config, model=model, run_dir=run_dir, epochs=config.epochs)
    shuffle_rng = np.random.default_rng([config.seed, SHUFFLE_STREAM])
    augment = config.dataset.augment
    return Trainer(
        run,
        data,
        loss,
        optimizer,
        scheduler,
        batch_size=config.dataset.batch_size,
        shuffle_rng=shuffle_rng,
        hooks=get_plugins().call_hook,
        progress=reporter.progress if reporter else None,
        arrays=arrays,
        augment=augment,
        augment_rng=np.random.default_rng([config.seed, AUGMENT_STREAM]) if augment else None,
        test_augment=config.dataset.test_augment,
        group=group,
    )


def check_plugin_tables(config):
    """The config's ``[plugins.<name>]`` tables, before anything is recorded: each plugin checks
    its own through ``corenn_check_config`` (a bad option stops the run); a table that no loaded
    plugin is named after is a warning on stderr, so the run goes on where that optional plugin
    is not installed."""
    if not config.plugins:
        return
    system = get_plugins()
    loaded = {info.name for info in system.plugins if info.status == "ok"}
    for name in config.plugins:
        if name not in loaded:
            print(
                f"corenn: warning: [plugins.{name}] is set but no installed plugin is named {name!r}"
                f"{_did_you_mean(name, loaded)} (see `corenn plugins`); the run goes on without it",
                file=sys.stderr,
            )
    system.call_hook("corenn_check_config", config=config)


def _did_you_mean(name, names):
    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _all_layers(layers):
    """Every layer, those inside composite layers (their ``layers``) included."""
    for layer in layers:
        yield layer
        inner = list(getattr(layer, "layers", None) or ())
        shortcut = getattr(layer, "shortcut", None)
        yield from _all_layers(inner + ([shortcut] if hasattr(shortcut, "forward") else []))


FIT_SAMPLE_SIZE = 5000


def fit_to_data(trainer):
    """Fit the layers that are fitted to data (``patch_whitening``) to the first
    ``FIT_SAMPLE_SIZE`` training images, unaugmented, as airbench does: once, for a fresh run,
    before its initial records (a resumed run loads what was fitted)."""
    fit_model_to_data(trainer.run.model, trainer.data.train, trainer.arrays)


def fit_model_to_data(model, train, arrays):
    """:func:`fit_to_data` for a model and a prepared training split outside a trainer (``corenn
    summary`` measures a network whose whitening layer must be fitted first)."""
    sample = arrays.to_device(train.X[: min(FIT_SAMPLE_SIZE, len(train))])
    model.fit_to_data(sample)
