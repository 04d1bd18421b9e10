"""Configs to start from: the bundled presets (tuned runs, ``corenn presets`` and ``corenn show``)
and the commented templates ``corenn init`` writes.

Both are TOML files in the package, read as text so that their comments survive: a preset's
first comment line is its one-line description; a template explains each key beside it and
trains as written (the ``csv`` and ``image-folder`` templates once their file or folder is
there: ``corenn init --data`` writes its path in).
"""

import importlib.resources
import re
from pathlib import Path

from corenn.errors import ConfigError, did_you_mean

# This module is imported when `corenn --help` builds its parser (the template names): the config
# module (numpy, attrs) is imported only by the functions that read configs.

TEMPLATES = {
    "mlp": "a fully connected network on the Iris data set embedded in corenn (offline, seconds)",
    "cnn": "a small convolutional network on MNIST (about 98% after one epoch)",
    "csv": "a fully connected network on a CSV file of yours",
    "image-folder": "a small convolutional network on a folder of your pictures, one sub-folder per class",
}
DEFAULT_TEMPLATE = "mlp"
# The [dataset] key that names the files of a template's data: what `corenn init --data` sets.
DATA_KEYS = {"csv": "path", "image-folder": "root"}


def preset_text(name):
    """A bundled preset's TOML text, comments included."""
    from corenn.run.config import preset_names

    names = preset_names()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}{did_you_mean(name, names)}; presets: {', '.join(names)}")
    return (importlib.resources.files("corenn") / "presets" / f"{name}.toml").read_text(encoding="utf-8")


def description(text):
    """The first comment line of a config's text (a preset's one-line description), or ``""``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            return ""
    return ""


def presets():
    """``[(name, description, config)]`` of every bundled preset, by name."""
    from corenn.run.config import parse_toml, preset_names

    listed = []
    for name in preset_names():
        text = preset_text(name)
        listed.append((name, description(text), parse_toml(text, f"preset {name}")))
    return listed


def template_text(template):
    """The commented TOML of a template (see :data:`TEMPLATES`)."""
    if template not in TEMPLATES:
        raise ConfigError(
            f"unknown template {template!r}{did_you_mean(template, TEMPLATES)}; templates: {', '.join(TEMPLATES)}"
        )
    return (importlib.resources.files("corenn") / "templates" / f"{template}.toml").read_text(encoding="utf-8")


def render_template(template, *, name=None, data=None):
    """A template's text with the run ``name`` and, for ``csv`` and ``image-folder``, the
    ``data`` file or folder written in; checked to be a valid config before it is returned."""
    from corenn.run.config import parse_toml

    text = template_text(template)
    if name is not None:
        text = _set_value(text, "name", name)
    if data is not None:
        if template not in DATA_KEYS:
            raise ConfigError(
                f"--data goes with the templates that read your files ({', '.join(DATA_KEYS)}); "
                f"template {template!r} reads {_dataset_of(text)}"
            )
        text = _set_value(text, DATA_KEYS[template], str(data))
    parse_toml(text, f"template {template}")  # a template that does not load is a bug: say so now
    return text


def run_name_for(path):
    """The run name a config written to ``path`` gets: the file's stem when it makes a valid run
    name (``cats.toml``: ``cats``), else ``None`` (keep the template's)."""
    from corenn.run.config import MAX_RUN_NAME_BYTES

    stem = Path(path).stem
    if not stem or stem.startswith(".") or len(stem.encode("utf-8", errors="surrogatepass")) > MAX_RUN_NAME_BYTES:
        return None
    return stem


def _toml_string(value):
    import tomli_w

    return tomli_w.dumps({"value": value}).split("=", 1)[1].strip()


def _set_value(text, key, value):
    """``text`` with the first line assigning ``key`` (``key = "..."``) set to ``value``, its
    comment kept in its column (or one space after a longer value)."""
    pattern = re.compile(rf'^({re.escape(key)}\s*=\s*)("[^"\n]*"[ \t]*)(#?)', re.MULTILINE)
    if not pattern.search(text):
        raise ConfigError(f'the template has no line {key} = "..." to set')

    def assignment(match):
        written = _toml_string(value)
        if match.group(3):  # a comment follows: pad to its column
            written = written.ljust(len(match.group(2)) - 1) + " "
        return match.group(1) + written + match.group(3)

    return pattern.sub(assignment, text, count=1)


def _dataset_of(text):
    match = re.search(r'^\[dataset\]\s*\nname\s*=\s*"([^"]*)"', text, re.MULTILINE)
    return f"the {match.group(1)} data set" if match else "no files of yours"
