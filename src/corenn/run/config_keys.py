"""Every key a run config takes, with its default and what it sets: ``corenn show --keys``, and
the documentation's config reference (docs/reference/config.md, generated from this module as
the site is built).

The keys and defaults come from the config classes themselves (:class:`RunConfig`,
:class:`DatasetConfig`, and ``TOP_LEVEL_KEYS``, what :func:`config_from_dict` accepts), so the
list cannot lose a key; the tests refuse a key without a description here, and a description of
a key that is gone.
"""

import attrs

from corenn.run.config import TOP_LEVEL_KEYS, ComponentConfig, DatasetConfig, RunConfig

DESCRIPTIONS = {
    "name": "the run's name: its folder under `--out` (`experiments/<name>/`)",
    "seed": "the seed of everything random in the run (weights, batch order, augmentation): same seed, same run",
    "epochs": "passes over the training split (at most, with `patience`)",
    "dtype": '`"float64"` or `"float32"` (faster, less precise)',
    "backend": '`"numpy"`, or `"torch"` with corenn-torch installed',
    "device": '`"cpu"`, `"cuda"`, `"cuda:N"` or `"auto"` (torch backend)',
    "mixed_precision": "bfloat16 products, float32 everything else (torch backend, float32, GPUs)",
    "threads": "threads for the BLAS and torch while training (unset: one per core)",
    "best_metric": '`"val_accuracy"` or `"val_loss"`: what `best.npz`, `patience` and `restore_best` go by',
    "patience": "stop once `best_metric` has not improved for this many epochs (unset: never)",
    "restore_best": "test with the best epoch's parameters (unset: true with `patience`, false without)",
    "plugins": "one table per optional plugin acting on the run (`[plugins.tensorboard]`)",
    "sync_batch_norm": "batch norm over the global batch in a data-parallel run",
    "kernels": '`"fast"` (each backend\'s overrides) or `"reference"` (the course\'s math, slower)',
    "loss": '`"cross_entropy"` or `"l2"`, or a table with its options (`label_smoothing`)',
    "dataset": "the data set: `name`, the keys below, and the data set's own options",
    "optimizer": "`sgd` (`lr`, `momentum`, `nesterov`, `weight_decay`, `clip_norm`) or `adam` (`lr`, `beta1`, `beta2`, `epsilon`, `weight_decay`, `clip_norm`)",
    "scheduler": "`constant`, `exponential` (`decay`, `stage_length`, `staircase`), `cosine`, `one_cycle`",
    "layers": "the network, one `[[layers]]` table per layer: `name` and the layer's options",
    "dataset.name": "a registered data set: `iris`, `mnist`, `fashion_mnist`, `cifar10`, `csv`, `npz`, `image_folder`",
    "dataset.batch_size": "samples per update",
    "dataset.augment": 'training images only: `{ crop_padding = 2, padding_mode = "reflect", flip = true }`',
    "dataset.test_augment": '`"none"`, `"flip"` or `"flip_translate"`: views every evaluation averages over',
}
REQUIRED = "(required)"
UNDESCRIBED = "(undescribed)"


def _toml_value(value):
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, ComponentConfig):
        return f'"{value.name}"' if not value.options else _toml_value(value.to_dict())
    if isinstance(value, dict):
        return "{}" if not value else "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _default(field):
    if field.default is attrs.NOTHING:
        return REQUIRED
    default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default
    if field.name == "restore_best":
        return "unset"
    return _toml_value(default)


def config_keys():
    """``[(key, default, description)]``: the top-level keys in ``TOP_LEVEL_KEYS``' order, then
    the ``[dataset]`` keys the trainer reads. A key that :data:`DESCRIPTIONS` lacks is
    described as ``UNDESCRIBED`` (the tests refuse it)."""
    run_fields = {field.name: field for field in attrs.fields(RunConfig)}
    dataset_fields = {field.name: field for field in attrs.fields(DatasetConfig) if field.name != "options"}
    rows = [(key, _default(run_fields[key]), DESCRIPTIONS.get(key, UNDESCRIBED)) for key in TOP_LEVEL_KEYS]
    for key, field in dataset_fields.items():
        rows.append((f"dataset.{key}", _default(field), DESCRIPTIONS.get(f"dataset.{key}", UNDESCRIBED)))
    return rows


def markdown_table():
    """The keys as a Markdown table: the docs' config reference and what ``corenn show --keys`` prints."""
    lines = ["| key | default | what it sets |", "| --- | --- | --- |"]
    for key, default, description in config_keys():
        shown = default if default in (REQUIRED, "unset") else f"`{default}`"
        lines.append(f"| `{key}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"
