"""What a run is about to train on, and with what: the summaries printed at its start and by
``corenn summary``.

The data summary says where the samples come from, how many each split holds, the classes (or
the targets' range, for data without classes), and what one sample is (its shape; an image's
channels). The model summary gives each layer's output shape for one sample and its number of
parameters, and the total; the shapes are measured by
:meth:`corenn.nn.model.Sequential.layer_summaries`. Both are plain data (``to_dict`` for
``--json``) with their lines of text (``lines``).
"""

import attrs
import numpy as np

# Data sets that read files under the data root (--data-dir, CORENN_DATA_DIR), and one that
# corenn carries inside the package; any other names its files with these keys, if at all.
DATA_ROOT_DATASETS = ("mnist", "fashion_mnist", "cifar10")
EMBEDDED_DATASETS = ("iris",)
FILE_OPTIONS = ("path", "root", "train", "test")
CLASSES_SHOWN = 10  # more are elided: "0, 1, ..., 99"
SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def count(n, noun, plural=None):
    """``"1 epoch"``, ``"2 epochs"``, ``"1,797 images"``: a number and its noun, singular for one."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def shape_text(shape):
    """``28x28x1`` for an image's shape, ``4`` for four features."""
    return "x".join(str(size) for size in shape) if shape else "1"


@attrs.frozen
class DataSummary:
    """What a run trains on: see the module's docstring."""

    source: str
    splits: dict  # split name -> samples (None: no such split)
    input_shape: tuple
    kind: str  # "image", "table" or "array"
    classes: tuple | None = None
    target_range: tuple | None = None
    features: tuple = ()
    channels: int | None = None

    @property
    def samples(self):
        return sum(n for n in self.splits.values() if n)

    def to_dict(self):
        return {
            "source": self.source,
            "samples": self.samples,
            "splits": dict(self.splits),
            "classes": None if self.classes is None else list(self.classes),
            "target_range": None if self.target_range is None else list(self.target_range),
            "input_shape": list(self.input_shape),
            "kind": self.kind,
            "channels": self.channels,
        }

    def lines(self):
        noun = "image" if self.kind == "image" else "row" if self.kind == "table" else "sample"
        what = count(self.samples, noun)
        if self.classes is not None:
            what += f" in {count(len(self.classes), 'class', 'classes')}: {_listed(self.classes)}"
        elif self.target_range is not None:
            low, high = self.target_range
            what += f", targets from {low:.6g} to {high:.6g}"
        splits = " / ".join(f"{n:,} {label}" for key, label in SPLITS if (n := self.splits.get(key)) is not None)
        missing = [label for key, label in SPLITS if self.splits.get(key) is None]
        if missing:
            splits += f" (no {' and no '.join(missing)} split)"
        return [f"data: {self.source}", f"  {what}", f"  split {splits}", f"  each {self._sample_text()}"]

    def _sample_text(self):
        if self.kind == "image":
            colour = {1: "grey", 3: "RGB", 4: "RGBA"}.get(self.channels)
            channels = count(self.channels, "channel") + (f" ({colour})" if colour else "")
            return f"image {shape_text(self.input_shape[:2])} pixels, {channels}"
        if self.kind == "table" and self.features:
            return f"row {count(len(self.features), 'feature')}: {_listed(self.features)}"
        return f"sample of shape {shape_text(self.input_shape)}"


def _listed(names):
    names = [str(name) for name in names]
    if len(names) <= CLASSES_SHOWN:
        return ", ".join(names)
    return ", ".join(names[: CLASSES_SHOWN - 2]) + f", ..., {names[-1]}"


def data_source(dataset, data_dir=None):
    """``"csv measurements.csv"``, ``"mnist, from the data root /data"``, ``"iris, embedded in
    corenn"``: a config's ``[dataset]`` (a :class:`corenn.run.config.DatasetConfig`) in words."""
    files = [str(dataset.options[key]) for key in FILE_OPTIONS if isinstance(dataset.options.get(key), str)]
    if files:
        return f"{dataset.name} {' + '.join(files)}"
    if dataset.name in EMBEDDED_DATASETS:
        return f"{dataset.name}, embedded in corenn"
    if dataset.name in DATA_ROOT_DATASETS:
        from corenn.data.download import resolve_data_dir

        return f"{dataset.name}, from the data root {resolve_data_dir(data_dir)}"
    return dataset.name


def data_summary(data, dataset, data_dir=None):
    """The :class:`DataSummary` of prepared data (:class:`corenn.data.loader.PreparedData`) of the
    config's ``[dataset]``.

    Data with classes (``n_classes``) lists them; data without (regression) gives the targets'
    range: the data's own ``target_range`` where it keeps one, else that of its prepared targets.
    """
    splits = {key: (None if getattr(data, key) is None else len(getattr(data, key))) for key, _ in SPLITS}
    inputs = dict(getattr(data, "inputs", None) or {})
    input_shape = tuple(int(n) for n in data.input_shape)
    kind = inputs.get("kind") or ("image" if len(input_shape) == 3 else "table" if len(input_shape) == 1 else "array")
    classes = target_range = None
    if getattr(data, "n_classes", None) and getattr(data, "task", "classification") != "regression":
        classes = tuple(str(name) for name in data.class_names)
    else:
        target_range = getattr(data, "target_range", None) or _target_range(data)
    return DataSummary(
        source=data_source(dataset, data_dir),
        splits=splits,
        input_shape=input_shape,
        kind=kind if kind in ("image", "table") else "array",
        classes=classes,
        target_range=None if target_range is None else tuple(float(value) for value in target_range),
        features=tuple(str(name) for name in inputs.get("features") or ()),
        channels=input_shape[-1] if kind == "image" and len(input_shape) == 3 else None,
    )


def _target_range(data):
    """In the targets' own units: prepared targets are standardised, so that is undone."""
    targets = [np.asarray(split.Y) for split in (data.train, data.val, data.test) if split is not None and len(split)]
    if not targets:
        return None
    standardizer = getattr(data, "target_standardizer", None)
    if standardizer is not None:
        targets = [standardizer.inverse(Y) for Y in targets]
    return float(min(np.min(Y) for Y in targets)), float(max(np.max(Y) for Y in targets))


@attrs.frozen
class ModelSummary:
    """Each layer's output shape and parameter count, and the total."""

    rows: tuple
    dtype: str

    @property
    def parameters(self):
        return sum(row["parameters"] for row in self.rows)

    @property
    def buffers(self):
        return sum(row["buffers"] for row in self.rows)

    def to_dict(self):
        return {
            "layers": [dict(row, output_shape=list(row["output_shape"])) for row in self.rows],
            "parameters": self.parameters,
            "buffers": self.buffers,
            "dtype": self.dtype,
        }

    def lines(self):
        index_width = len(str(len(self.rows) - 1))
        names = [_layer_text(row, index_width) for row in self.rows]
        shapes = [shape_text(row["output_shape"]) for row in self.rows]
        counts = [f"{row['parameters']:,}" for row in self.rows]
        total = f"{self.parameters:,}"
        name_width = max(len("layer"), *(len(name) for name in names))
        shape_width = max(len("output shape"), *(len(shape) for shape in shapes))
        count_width = max(len("parameters"), len(total), *(len(text) for text in counts))
        lines = [f"model: {count(len(self.rows), 'layer')}, {count(self.parameters, 'parameter')}"]
        lines.append(f"  {'layer':<{name_width}}  {'output shape':<{shape_width}}  {'parameters':>{count_width}}")
        for name, shape, text in zip(names, shapes, counts, strict=True):
            lines.append(f"  {name:<{name_width}}  {shape:<{shape_width}}  {text:>{count_width}}")
        size = self.parameters * np.dtype(self.dtype).itemsize
        lines.append(
            f"  {'total':<{name_width}}  {'':<{shape_width}}  {total:>{count_width}}  ({_bytes(size)} as {self.dtype})"
        )
        if self.buffers:
            lines.append(
                f"  and {count(self.buffers, 'value')} kept but not trained (buffers: running statistics, fitted filters)"
            )
        return lines


def _layer_text(row, index_width):
    activation = row.get("activation")
    shown = f", {activation}" if activation and activation != "linear" else ""
    return f"{row['index']:>{index_width}} {row['name']}{shown}"


def _bytes(size):
    if size < 1024:
        return f"{size:,} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"


def model_summary(model, input_shape, dtype, to_device=None):
    """The :class:`ModelSummary` of an initialised model for samples of ``input_shape``."""
    return ModelSummary(tuple(model.layer_summaries(input_shape, dtype, to_device=to_device)), str(dtype))


def run_summaries(trainer, data_dir=None):
    """The data and model summaries of a built trainer (:func:`corenn.run.build.make_trainer`)."""
    config = trainer.run.config
    data = data_summary(trainer.data, config.dataset, data_dir)
    # mixed precision computes some products in bfloat16; the summary's sample needs only the run's dtype
    model = model_summary(trainer.run.model, data.input_shape, config.dtype, to_device=trainer.arrays.to_device)
    return data, model
