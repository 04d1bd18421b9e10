"""scikit-learn's small real data sets (``wine``, ``breast_cancer``, ``digits``, shipped as files
inside scikit-learn, so no network) written out as a user's own files: CSV tables, ``.npz``
archives and PNG image folders; and run configs that train on them."""

import csv
from pathlib import Path

import numpy as np


def sklearn_data(name):
    """``(X float64, labels as text, feature names)`` of a scikit-learn data set."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    labels = np.asarray(bunch.target_names)[bunch.target] if name != "digits" else bunch.target.astype(str)
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    return bunch.data.astype(np.float64), labels.astype(str), names


def write_csv(path, X, labels, names, label="label"):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([*names, label])
        for row, target in zip(X, labels, strict=True):
            writer.writerow([repr(float(v)) for v in row] + [target])
    return Path(path)


def digit_images(X):
    """scikit-learn's 8x8 digits (values 0..16) as uint8 grey images 0..255."""
    return np.clip(X.reshape(-1, 8, 8) * 16, 0, 255).astype(np.uint8)


def write_image_folder(root, images, labels):
    """``root/<label>/<index>.png`` for every image (uint8, (h, w) or (h, w, 3))."""
    from PIL import Image

    root = Path(root)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:04d}.png")
    return root


def mlp_config(name, dataset, *, epochs=30, hidden=32, lr=0.01, flatten=False, batch_size=32):
    """A TOML config: (flatten,) fully_connected relu, fully_connected softmax, adam."""
    lines = [
        f'name = "{name}"',
        f"epochs = {epochs}",
        "seed = 0",
        "[dataset]",
        *(f"{key} = {_toml(value)}" for key, value in {"batch_size": batch_size, **dataset}.items()),
        "[optimizer]",
        'name = "adam"',
        f"lr = {lr}",
    ]
    if flatten:
        lines += ["[[layers]]", 'name = "flatten"']
    lines += [
        "[[layers]]",
        'name = "fully_connected"',
        f"n_out = {hidden}",
        'activation = "relu"',
        "[[layers]]",
        'name = "fully_connected"',
        'n_out = "auto"',
        'activation = "softmax"',
    ]
    return "\n".join(lines) + "\n"


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Path)):
        return '"' + str(value).replace("\\", "\\\\") + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
