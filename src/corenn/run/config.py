"""Run configs: TOML in, validated attrs classes out.

A config names components by their registered names and passes every other key of a table to
the component as a keyword option. This module checks the config's own structure (known keys,
types, positive numbers); each component's options are checked when the model is built, against
the component's signature. Every error names the key, as ``optimizer.lr`` or
``layers[1].n_out``, and what is allowed.
"""

import importlib.resources
import numbers
import os
import tomllib
from pathlib import Path

import attrs

from corenn.data.loader import PADDING_MODES, TEST_AUGMENT_MODES
from corenn.errors import ConfigError, did_you_mean
from corenn.nn.model import AUTO

DTYPES = ("float64", "float32")
DEVICES = ("cpu", "cuda", "auto")  # "cuda:<n>" picks one GPU of several
AUGMENT_KEYS = {
    "crop_padding": "a non-negative integer (pixels added on each side before a random crop)",
    "flip": 'true or false (random horizontal flips), or "alternate" (each image mirrored in every other epoch)',
    "padding_mode": '"zeros" or "reflect" (what the crop padding holds)',
}
MAX_CONFIG_NESTING = 100  # tables and arrays inside one another; the layers' own bound is lower (corenn.nn.composite)


def _component(table, where, *, default_name=None):
    """Split a ``{name = ..., **options}`` table (or a bare name) into a ComponentConfig."""
    if isinstance(table, str):
        table = {"name": table}
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table (or a component name), got {type(table).__name__}")
    table = dict(table)
    if "name" not in table and default_name is None:
        raise ConfigError(f"{where}.name is required: the registered name of the component")
    name = table.pop("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name must be the registered name of a component (a string), got {name!r}")
    return ComponentConfig(name=name, options=table)


# Layer options that name a component: a name, or a table of the name and the component's options.
COMPONENT_OPTIONS = {
    "activation": '"relu", or { name = "leaky_relu", slope = 0.1 }',
    "weight_init": '"he_normal", or { name = "uniform", low = -0.1, high = 0.1 }',
}


def _check_component_option(value, where, example):
    """A layer's ``activation`` / ``weight_init``: its table must name the component; the
    options in it are checked against the component when the model is built."""
    if not isinstance(value, dict):
        return
    if "name" not in value:
        raise ConfigError(f"{where}.name is required: {where} is a component name or a table with one ({example})")
    if not isinstance(value["name"], str) or not value["name"]:
        raise ConfigError(f"{where}.name must be the registered name of a component (a string), got {value['name']!r}")


def is_positive_integer(value):
    """An int or a numpy integer (``np.arange`` and scikit-learn's grids give those), 1 or more;
    never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _positive_int(key):
    def check(instance, attribute, value):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")

    return check


def _check_seed(instance, attribute, value):
    # numpy's SeedSequence takes non-negative integers only.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {value!r}")


MAX_RUN_NAME_BYTES = 200
"""The longest run name, in bytes of UTF-8. A run's folder names are longer than its name (the
set-up folder ``.<name>.<8 random>.staging`` adds 18 bytes, ``-sweep`` and ``-N`` a few more),
and a folder name may hold at most 255 bytes on the usual file systems."""


def _check_run_name(instance, attribute, value):
    """:func:`check_run_name` as the attrs validator of ``RunConfig.name``."""
    check_run_name(value)


def check_run_name(value):
    """A run's name is its directory under ``--out``: one plain folder name, never a path, and
    never a hidden one: names starting with '.' are corenn's own set-up folders and
    temporaries, which it deletes when it finds them abandoned. Nor may it hold characters that
    do not show as themselves (see :data:`INVISIBLE_CATEGORIES`)."""
    import unicodedata

    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"name must be a non-empty string (the run directory's name), got {_shortened(value)}")
    if value in (".", "..") or any(sep in value for sep in ("/", "\\", "\0")):
        raise ConfigError(
            f"name {_shortened(value)} is not a plain folder name: it may not be '.' or '..' nor contain '/', '\\' or NUL"
        )
    odd = next((char for char in value if unicodedata.category(char) in INVISIBLE_CATEGORIES), None)
    if odd is not None:
        raise ConfigError(
            f"name {_shortened(value)} holds {_character_name(odd)}; a run name may not hold control characters "
            "(newlines, tabs), invisible format characters (right-to-left marks) or line separators: they "
            "garble listings and shell commands"
        )
    if value.startswith("."):
        raise ConfigError(
            f"name {_shortened(value)} starts with '.': hidden names are reserved for corenn's set-up folders "
            "and temporaries; start it with another character"
        )
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > MAX_RUN_NAME_BYTES:
        raise ConfigError(
            f"name {_shortened(value)} is {size} bytes long; a run name may hold at most {MAX_RUN_NAME_BYTES} bytes "
            "(UTF-8), so that its folders' names fit the file system"
        )


INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")
"""Unicode categories a run name may not hold: control (newline, tab, escape), format (right-to-left
and zero-width marks), surrogates, line and paragraph separators."""


def _character_name(char):
    import unicodedata

    return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character').lower()})"


def _shortened(value, limit=60):
    """``repr(value)`` with its middle cut to keep about ``limit`` characters, for one-line
    messages about huge values."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...{text[-12:]}"


@attrs.define
class ComponentConfig:
    """A registered component's name and its keyword options."""

    name: str
    options: dict = attrs.Factory(dict)

    def to_dict(self):
        return {"name": self.name, **self.options}


def _valid_augment_value(key, item):
    if key == "flip":
        return isinstance(item, bool) or item == "alternate"
    if key == "padding_mode":
        return item in PADDING_MODES
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0


def _check_augment(instance, attribute, value):
    """``dataset.augment``: ``{crop_padding = 4, flip = true, padding_mode = "zeros"}``, each optional."""
    if not isinstance(value, dict):
        raise ConfigError(f"dataset.augment must be a table such as {{ crop_padding = 4, flip = true }}, got {value!r}")
    for key, item in value.items():
        if key not in AUGMENT_KEYS:
            raise ConfigError(
                f"unknown key dataset.augment.{key}{did_you_mean(key, AUGMENT_KEYS)}; allowed: {', '.join(AUGMENT_KEYS)}"
            )
        if not _valid_augment_value(key, item):
            raise ConfigError(f"dataset.augment.{key} must be {AUGMENT_KEYS[key]}, got {item!r}")


def _check_test_augment(instance, attribute, value):
    if not isinstance(value, str) or value not in TEST_AUGMENT_MODES:
        raise ConfigError(
            f"dataset.test_augment must be one of {', '.join(TEST_AUGMENT_MODES)} (the views each evaluation "
            f"averages its outputs over), got {value!r}"
        )


@attrs.define
class DatasetConfig:
    """Which data set, the mini-batch size, options for the data set's factory (such as
    ``val_size`` of cifar10, mnist and fashion_mnist: how many of the last training images
    validate, 0 for none), and what the trainer does with images, never passed to the factory:

    - ``augment``, applied to training batches: ``crop_padding`` (pixels added on each side
      before a random crop of the original size), ``padding_mode`` (``"zeros"``, the default,
      or ``"reflect"``: the image mirrored at its border without repeating the edge) and
      ``flip`` (``true``: each image mirrored with probability 1/2; ``"alternate"``: each image
      mirrored in every other epoch, starting from a fixed pseudo-random half);
    - ``test_augment``, applied at every evaluation (validation, test, ``corenn predict``):
      ``"none"``, ``"flip"`` (outputs averaged over the image and its mirror image) or
      ``"flip_translate"`` (also over the images shifted by one pixel up-left and down-right;
      see :func:`corenn.data.loader.evaluation_views`).
    """

    name: str
    batch_size: int = attrs.field(default=32, validator=_positive_int("dataset.batch_size"))
    options: dict = attrs.Factory(dict)
    augment: dict = attrs.field(factory=dict, validator=_check_augment)
    test_augment: str = attrs.field(default="none", validator=_check_test_augment)

    def to_dict(self):
        data = {"name": self.name, "batch_size": self.batch_size, **self.options}
        if self.augment:
            data["augment"] = dict(self.augment)
        if self.test_augment != "none":  # absent when unset, so older runs' configs still match
            data["test_augment"] = self.test_augment
        return data


# what best.npz is kept by (higher accuracy and R^2, lower loss and errors); the error metrics
# are a regression's, accuracy a classification's (see corenn.run.build.best_metric_for)
BEST_METRICS = ("val_accuracy", "val_loss", "val_mse", "val_mae", "val_r2")
KERNELS = ("fast", "reference")  # what the kernels run: see RunConfig


def _check_best_metric(instance, attribute, value):
    if value not in BEST_METRICS:
        raise ConfigError(f"best_metric must be one of {', '.join(BEST_METRICS)}, got {value!r}")


def _check_kernels(instance, attribute, value):
    if value not in KERNELS:
        raise ConfigError(
            f"kernels must be one of {', '.join(KERNELS)} (each backend's fast kernels, or the references "
            f"alone: the course's math), got {value!r}"
        )


def _check_plugin_tables(value):
    """``[plugins.<name>]`` tables: a table of tables; each plugin checks its own keys."""
    for name, table in value.items():
        if not isinstance(table, dict):
            raise ConfigError(f"plugins.{name} must be a table of the plugin's options, got {table!r}")
    return value


@attrs.define
class RunConfig:
    """Everything one training run needs; ``corenn train`` writes it back as ``config.toml``.

    ``mixed_precision = true`` (default false) runs the heavy products of the torch backend's
    ``conv2d``, ``fully_connected`` and ``patch_whitening`` in bfloat16 while everything else
    (activations, batch-norm statistics, the loss, the parameters and the optimizer's state)
    stays float32: on a GPU with bfloat16 units (NVIDIA Ampere and later) those products run
    faster and the inputs they keep for backward take half the memory. It needs
    ``backend = "torch"`` and ``dtype = "float32"``. It is meant for GPUs: on a CPU without
    bfloat16 units it is allowed but much slower (a 3x3 convolution's step took 12 times as
    long on a 2-core CPU). Parameter files and checkpoints stay float32. See
    :class:`corenn.nn.layers.ProductLayer`.

    ``threads`` (a positive integer; unset: the libraries' own default, one per core) caps the
    threads the BLAS (through threadpoolctl) and torch (``torch.set_num_threads``) use while the
    run trains. It changes speed, not results, so a run may be resumed with another value.

    ``best_metric`` (``"val_accuracy"``, the default, or ``"val_loss"``) is what the run's
    ``best.npz`` is kept by: the parameters of the epoch where it was best. ``patience`` (a
    positive integer; unset: never) stops training early once that metric has not improved for
    that many epochs. ``restore_best`` (true or false; unset: true with ``patience``, false
    without) makes the test metrics those of the best epoch's parameters, which the model then
    keeps (``parameters.npz`` still holds the last epoch's, ``best.npz`` the best one's): early
    stopping means the best epoch's parameters, the ones ``patience`` epochs past it are never
    better on the validation split; a run of a fixed length keeps its last ones unless asked.
    ``plugins`` holds one table per optional plugin that is to act on the run
    (``[plugins.tensorboard]``); each such plugin checks its own table's keys.

    ``kernels`` is what the components' kernels run (:mod:`corenn.kernels`): ``"fast"`` (the
    default), each backend's overrides (numpy's blocked and im2col routines, torch's own; the
    references where a backend has none, or when the run is started inside
    :func:`corenn.kernels.reference_kernels`); or
    ``"reference"``, the references alone, the course's math written to be read, on every backend,
    for the whole run (training, evaluation, test): slower, for stepping through the math in a
    debugger. Both compute the same function (the overrides are checked against the references to
    1e-10), not the same bits, so a run may be resumed with the other value.

    ``sync_batch_norm = true`` (default false) matters only in a data-parallel run (``torchrun``,
    ``corenn train --nproc N``): each ``batch_norm`` layer then normalises with the mean and
    variance of the whole global batch, reduced across the processes, so the run computes what one
    process would. By default, as PyTorch's DistributedDataParallel, each process normalises its
    own share of the batch with that share's statistics (cheaper: no reduction inside the forward
    pass; but the result then depends on the number of processes), and the running statistics are
    rank 0's, given to every rank at each epoch's end.
    """

    name: str = attrs.field(validator=_check_run_name)
    dataset: DatasetConfig
    layers: list
    seed: int = attrs.field(default=0, validator=_check_seed)
    epochs: int = attrs.field(default=10, validator=_positive_int("epochs"))
    loss: ComponentConfig = attrs.Factory(lambda: ComponentConfig("cross_entropy"))
    optimizer: ComponentConfig = attrs.Factory(lambda: ComponentConfig("sgd", {"lr": 0.01}))
    scheduler: ComponentConfig = attrs.Factory(lambda: ComponentConfig("constant"))
    dtype: str = "float64"
    backend: str = "numpy"
    device: str = "cpu"
    mixed_precision: bool = False
    threads: int = attrs.field(default=None, validator=attrs.validators.optional(_positive_int("threads")))
    best_metric: str = attrs.field(default="val_accuracy", validator=_check_best_metric)
    patience: int = attrs.field(default=None, validator=attrs.validators.optional(_positive_int("patience")))
    restore_best: bool = None  # see restores_best
    plugins: dict = attrs.Factory(dict)
    sync_batch_norm: bool = False
    kernels: str = attrs.field(default="fast", validator=_check_kernels)

    def to_dict(self):
        # mixed_precision is absent when false, threads and patience when unset, best_metric
        # at its default and plugins when empty, so the configs of older runs still match
        extra = {"mixed_precision": True} if self.mixed_precision else {}
        if self.threads is not None:
            extra["threads"] = self.threads
        if self.best_metric != "val_accuracy":
            extra["best_metric"] = self.best_metric
        if self.patience is not None:
            extra["patience"] = self.patience
        if self.restore_best is not None:
            extra["restore_best"] = self.restore_best
        if self.plugins:
            extra["plugins"] = {name: dict(table) for name, table in self.plugins.items()}
        if self.sync_batch_norm:  # absent when false, as mixed_precision
            extra["sync_batch_norm"] = True
        if self.kernels != "fast":  # absent at its default, as best_metric
            extra["kernels"] = self.kernels
        return {
            "name": self.name,
            "seed": self.seed,
            "epochs": self.epochs,
            "dtype": self.dtype,
            "backend": self.backend,
            "device": self.device,
            **extra,
            "loss": self.loss.to_dict(),
            "dataset": self.dataset.to_dict(),
            "optimizer": self.optimizer.to_dict(),
            "scheduler": self.scheduler.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @property
    def restores_best(self):
        """Whether the test metrics come from the best epoch's parameters: ``restore_best``, or
        when unset, whether the run stops early (``patience``)."""
        return self.patience is not None if self.restore_best is None else self.restore_best

    def to_toml(self):
        import tomli_w

        return tomli_w.dumps(_without_none(self.to_dict()))


TOP_LEVEL_KEYS = {
    "name": str,
    "seed": int,
    "epochs": int,
    "dtype": str,
    "backend": str,
    "device": str,
    "mixed_precision": bool,
    "threads": int,
    "best_metric": str,
    "patience": int,
    "restore_best": bool,
    "plugins": dict,
    "sync_batch_norm": bool,
    "kernels": str,
    "loss": (str, dict),
    "dataset": dict,
    "optimizer": dict,
    "scheduler": dict,
    "layers": list,
}


REQUIRED_KEYS = ("name", "dataset", "layers")

# Options the trainer passes to a component itself, so a config may not set them.
RESERVED_OPTIONS = {
    "dataset": {"data_dir": "the data root comes from --data-dir or CORENN_DATA_DIR"},
    "scheduler": {"initial_lr": "a scheduler starts from optimizer.lr; set that instead"},
}


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _type_names(types):
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "a table", list: "an array of tables"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names[t] for t in types)


def _check_nesting(data):
    """Refuse values nested past :data:`MAX_CONFIG_NESTING` before anything walks them
    recursively (validation, ``to_toml``), which would end in a RecursionError traceback.
    The walk itself keeps its own stack."""
    pending = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list, tuple)):
            depth += 1
            if depth > MAX_CONFIG_NESTING:
                raise ConfigError(
                    f"the config nests tables and arrays more than {MAX_CONFIG_NESTING} deep; "
                    f"at most {MAX_CONFIG_NESTING} levels are allowed"
                )
            pending.extend((item, depth) for item in (value.values() if isinstance(value, dict) else value))


def plain_values(value):
    """``value`` with numpy scalars made Python numbers, in tables and arrays at any depth: a
    config built in Python may hold ``np.int64(3)`` (from ``np.arange``, a scikit-learn grid),
    which TOML never gives and the checks below would refuse as no integer."""
    if isinstance(value, dict):
        return {key: plain_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain_values(item) for item in value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def config_from_dict(data):
    """Validate a config mapping (as parsed from TOML) into a :class:`RunConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a table of keys, got {type(data).__name__}")
    _check_nesting(data)
    # None, which TOML cannot write, is a Python config's way to leave an optional key unset
    data = {key: value for key, value in plain_values(data).items() if value is not None or key in REQUIRED_KEYS}
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown config key {', '.join(repr(key) + did_you_mean(key, TOP_LEVEL_KEYS) for key in unknown)}; "
            f"allowed keys: {', '.join(TOP_LEVEL_KEYS)}"
        )
    for key, types in TOP_LEVEL_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, types) or (types is int and isinstance(value, bool)):
            raise ConfigError(f"{key} must be {_type_names(types)}, got {value!r}")
    for required in REQUIRED_KEYS:
        if required not in data:
            raise ConfigError(f"config key {required!r} is required")
    if data.get("dtype", "float64") not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {data['dtype']!r}")
    _check_mixed_precision(data)

    dataset = dict(data["dataset"])
    dataset_name = dataset.pop("name", None)
    if not isinstance(dataset_name, str) or not dataset_name:
        raise ConfigError("dataset.name is required: the registered name of the data set (e.g. 'iris')")
    batch_size = dataset.pop("batch_size", 32)
    augment = dataset.pop("augment", {})
    test_augment = dataset.pop("test_augment", "none")
    for key, reason in RESERVED_OPTIONS["dataset"].items():
        if key in dataset:
            raise ConfigError(f"dataset.{key} is not a config key: {reason}")

    layers = data["layers"]
    if not layers:
        raise ConfigError("layers must hold at least one [[layers]] table")
    layer_configs = [_component(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
    for i, layer in enumerate(layer_configs):
        n_out = layer.options.get("n_out")
        if n_out == AUTO and i != len(layer_configs) - 1:
            raise ConfigError(f"layers[{i}].n_out = 'auto' is only allowed on the last layer")
        if isinstance(n_out, str) and n_out != AUTO:
            raise ConfigError(f"layers[{i}].n_out must be a positive integer or 'auto', got {n_out!r}")
        for key, example in COMPONENT_OPTIONS.items():
            _check_component_option(layer.options.get(key), f"layers[{i}].{key}", example)

    loss = _component(data.get("loss", "cross_entropy"), "loss")
    _check_output_fits_loss(layer_configs, loss)

    scheduler = data.get("scheduler", {"name": "constant"})
    for key, reason in RESERVED_OPTIONS["scheduler"].items():
        if key in scheduler:
            raise ConfigError(f"scheduler.{key} is not a config key: {reason}")

    optimizer = data.get("optimizer", {"name": "sgd", "lr": 0.01})
    device = data.get("device", "cpu")
    if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:<n>), got {device!r}")
    return RunConfig(
        name=data["name"],
        seed=data.get("seed", 0),
        epochs=data.get("epochs", 10),
        dtype=data.get("dtype", "float64"),
        backend=data.get("backend", "numpy"),
        device=device,
        mixed_precision=data.get("mixed_precision", False),
        threads=data.get("threads"),
        best_metric=data.get("best_metric", "val_accuracy"),
        patience=data.get("patience"),
        restore_best=data.get("restore_best"),
        plugins=_check_plugin_tables(data.get("plugins", {})),
        sync_batch_norm=data.get("sync_batch_norm", False),
        kernels=data.get("kernels", "fast"),
        loss=loss,
        dataset=DatasetConfig(dataset_name, batch_size, dataset, augment, test_augment),
        optimizer=_component(optimizer, "optimizer"),
        scheduler=_component(scheduler, "scheduler"),
        layers=layer_configs,
    )


def _check_mixed_precision(data):
    """``mixed_precision = true`` needs the torch backend, whose layers can compute in
    bfloat16, and a float32 run, whose float32 master weights it keeps."""
    if not data.get("mixed_precision", False):
        return
    backend, dtype = data.get("backend", "numpy"), data.get("dtype", "float64")
    if backend != "torch":
        raise ConfigError(
            f'mixed_precision = true needs backend = "torch" (its layers compute in bfloat16), got '
            f'backend = {backend!r}: set backend = "torch" (--backend torch) or mixed_precision = false'
        )
    if dtype != "float32":
        raise ConfigError(
            f"mixed_precision = true is for float32 runs (bfloat16 products, float32 parameters), got "
            f'dtype = {dtype!r}: set dtype = "float32" (--dtype float32) or mixed_precision = false'
        )


# Built-in activations whose outputs are not probabilities; a third party's are not judged.
NOT_PROBABILITIES = ("linear", "relu", "tanh", "arctan")
# Built-in activations whose outputs are no distribution over the classes, which cross-entropy
# takes: sigmoid's are each between 0 and 1 but do not sum to 1, and cross-entropy, which only
# raises the true class's output, drives every one of them towards 1.
NOT_DISTRIBUTIONS = (*NOT_PROBABILITIES, "sigmoid", "gelu")


def _last_activation(layer_configs):
    """``(name, note)`` of the last layer's activation (``note`` says when it is a default), or
    ``(None, "")`` when the config does not say (a layer other than fully_connected without one)."""
    last = layer_configs[-1]
    if "activation" in last.options:
        activation = last.options["activation"]
        return (activation.get("name") if isinstance(activation, dict) else activation), ""
    if last.name == "fully_connected":
        return "linear", " (fully_connected's default)"
    return None, ""


def output_is_probability(layer_configs):
    """Whether the network's outputs are probabilities: its last activation is not one of the
    built-ins that give other values (a third party's or a softmax is taken at its word)."""
    return _last_activation(layer_configs)[0] not in NOT_PROBABILITIES


def task_of(config):
    """``(task, reason)``: ``"classification"`` or ``"regression"`` for a run of ``config``:
    its ``[dataset] task`` when set (reason ``None``), else inferred from its loss and last layer
    (see :func:`corenn.data.tasks.infer_task`), with the reason in words."""
    from corenn.data.tasks import check_task, infer_task

    task = check_task(config.dataset.options.get("task", "auto"))
    if task != "auto":
        return task, None
    return infer_task(config.loss.name, output_is_probability(config.layers))


def _check_output_fits_loss(layer_configs, loss):
    """Cross-entropy takes a distribution over the classes: a linear (or relu, tanh) output
    makes its log blow up at the first step, which would otherwise surface as a 'diverged' run
    blaming the learning rate; a sigmoid output trains every class's output towards 1."""
    if loss.name != "cross_entropy":
        return
    index = len(layer_configs) - 1
    activation, note = _last_activation(layer_configs)
    if activation is None:
        return
    if activation in NOT_DISTRIBUTIONS:
        misspelt = [key for key in layer_configs[index].options if note and did_you_mean(key, ["activation"])]
        if misspelt:  # the layer's own check, which runs later, would name it: a typo, not a choice
            raise ConfigError(
                f"layers[{index}]: layer {layer_configs[index].name!r} has no option {misspelt[0]!r}"
                f"{did_you_mean(misspelt[0], ['activation'])}; its activation is therefore the default, "
                f"{activation!r}, which loss 'cross_entropy' cannot take"
            )
        raise ConfigError(
            f"layers[{index}].activation is {activation!r}{note}, but loss 'cross_entropy' needs "
            f"probabilities over the classes (summing to 1) from the last layer: set "
            f'activation = "softmax" there (or use loss = "l2")'
        )


def load_config(source):
    """A :class:`RunConfig` from a TOML file path, TOML text or an already parsed mapping."""
    if isinstance(source, RunConfig):
        return source
    if isinstance(source, dict):
        return config_from_dict(source)
    from corenn.errors import CorruptFileError
    from corenn.files import MAX_CONFIG_BYTES, read_bounded_text

    if not isinstance(source, str | os.PathLike):
        raise ConfigError(
            f"a config is a TOML file's path, a dict or a RunConfig, got {type(source).__name__} {_shortened(source)}"
        )
    path = Path(source)
    try:  # a regular file of bounded size: never a FIFO, /dev/zero or a 10 GB file
        text = read_bounded_text(path, MAX_CONFIG_BYTES, "config file")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except CorruptFileError as exc:
        raise ConfigError(str(exc)) from None
    return parse_toml(text, str(path))


def parse_toml(text, origin="<config>"):
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(
            f"{origin} nests tables and arrays too deep for the TOML parser; at most {MAX_CONFIG_NESTING} levels are allowed"
        ) from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def preset_names():
    folder = importlib.resources.files("corenn") / "presets"
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def load_preset(name):
    """A bundled preset config, by name (``iris-ffnn``, ``lenet-mnist``, ...)."""
    names = preset_names()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}{did_you_mean(name, names)}; presets: {', '.join(names)}")
    text = (importlib.resources.files("corenn") / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    return parse_toml(text, f"preset {name}")


def with_overrides(
    config,
    *,
    name=None,
    epochs=None,
    lr=None,
    batch_size=None,
    seed=None,
    backend=None,
    device=None,
    dtype=None,
    mixed_precision=None,
    threads=None,
    kernels=None,
):
    """A copy of ``config`` with command-line overrides applied and validated."""
    data = config.to_dict()
    overrides = (
        ("name", name),
        ("epochs", epochs),
        ("seed", seed),
        ("backend", backend),
        ("device", device),
        ("dtype", dtype),
        ("mixed_precision", mixed_precision),
        ("threads", threads),
        ("kernels", kernels),
    )
    for key, value in overrides:
        if value is not None:
            data[key] = value
    if lr is not None:
        if not lr > 0:
            raise ConfigError(f"--lr (optimizer.lr) must be positive, got {lr}")
        data["optimizer"]["lr"] = lr
    if batch_size is not None:
        data["dataset"]["batch_size"] = batch_size
    return config_from_dict(data)


def config_on(config, *, backend=None, device=None):
    """A run's recorded ``config`` moved to ``backend`` and ``device`` where given, to predict or
    to go on training there. A run's records are the same numpy files on every backend, so a
    torch run goes on on numpy; its mixed precision, which torch alone runs, is then left out
    (its float32 parameters compute in float32 throughout)."""
    changes = {}
    if backend is not None and backend != config.backend:
        changes["backend"] = backend
        if config.mixed_precision and backend != "torch":
            changes["mixed_precision"] = False
    if device is not None:
        changes["device"] = device
    return with_overrides(config, **changes) if changes else config
