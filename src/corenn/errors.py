"""Errors a user can act on.

Everything corenn raises on purpose derives from :class:`CorennError`; the CLI prints such an
error as one plain message (what was wrong, what is allowed) and exits non-zero, never with a
traceback. Anything else escaping to the CLI is a bug in corenn or in a plugin.
"""


class CorennError(Exception):
    """Base of every error that is the user's to fix (bad input, missing data, bad files)."""


class ConfigError(CorennError, ValueError):
    """A config key or value, or a component option, that is not allowed."""


class UnknownComponentError(ConfigError, LookupError):
    """A component name that no installed plugin registers for that kind and backend."""


class PluginError(CorennError):
    """A plugin that could not be loaded or registered (raised in strict mode only)."""


class ShapeError(CorennError, ValueError):
    """An input whose shape does not fit a layer; the message names the layer and both shapes."""


class DataError(CorennError):
    """A data set that is missing, corrupt, or holds values training cannot use."""


class CorruptFileError(CorennError):
    """A parameter, checkpoint or record file that cannot be read back as written."""


class TrainingDiverged(CorennError):
    """The loss became NaN or infinite; the last good parameters were kept on disk."""

    def __init__(self, message, *, epoch, step):
        super().__init__(message)
        self.epoch = epoch
        self.step = step


class RunExistsError(CorennError):
    """A run directory that already exists and would be overwritten."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``kill`` and job schedulers send), handled as Ctrl-C is: the trainer stops
    at the next batch boundary and saves a checkpoint; the CLI exits with status 143."""


_RUN_DIR_ATTRIBUTE = "corenn_run_dir"
_SAVED_ATTRIBUTE = "corenn_saved"


def _remember(exc, attribute, value):
    """Note ``value`` on ``exc`` for the CLI to read (nothing on an exception type without a __dict__)."""
    try:
        setattr(exc, attribute, value)
    except AttributeError:
        pass


def remember_run_dir(exc, run_dir):
    """Note on ``exc`` the run folder it escaped from, where the CLI keeps its traceback."""
    from pathlib import Path

    _remember(exc, _RUN_DIR_ATTRIBUTE, Path(run_dir))


def run_dir_of(exc):
    """The run folder noted by :func:`remember_run_dir`, or None."""
    return getattr(exc, _RUN_DIR_ATTRIBUTE, None)


def remember_saved(exc, text):
    """Note on ``exc`` what was saved before it stopped the run and how to go on (the CLI ends
    the error's line with it)."""
    _remember(exc, _SAVED_ATTRIBUTE, text)


def saved_of(exc):
    """The text noted by :func:`remember_saved`, or None."""
    return getattr(exc, _SAVED_ATTRIBUTE, None)


def closest_name(word, names):
    """The one of ``names`` a user most likely meant by ``word``, or ``None``.

    Spelling is compared without dashes, underscores or case (``--batch_size`` is
    ``--batch-size``); a word's initials may stand for a short name and the reverse
    (``--learning-rate`` for ``--lr``, ``--bs`` for ``--batch-size``); a name may be cut short
    (``lenet`` for ``lenet-mnist``); and close spellings
    (``epoch`` for ``epochs``, ``fully_conected``) are found by :mod:`difflib`.
    """
    import difflib

    def plain(name):
        return str(name).lstrip("-").lower().replace("_", "-")

    def initials(name):
        parts = [part for part in plain(name).split("-") if part]
        return "".join(part[0] for part in parts) if len(parts) > 1 else None

    names = [name for name in dict.fromkeys(names) if str(name) != str(word)]
    target = plain(word)
    for name in names:
        if plain(name) == target:
            return name
    for name in names:
        if initials(word) == plain(name) or initials(name) == target:
            return name
    starting = [name for name in names if len(target) >= 3 and plain(name).startswith(target)]
    if len(starting) == 1:  # a name cut short (lenet for lenet-mnist)
        return starting[0]
    by_plain = {plain(name): name for name in names}
    close = difflib.get_close_matches(target, list(by_plain), n=1, cutoff=0.7)
    return by_plain[close[0]] if close else None


def did_you_mean(word, names, *, quote=repr):
    """``" (did you mean 'epochs'?)"`` for the closest of ``names`` to ``word`` (see
    :func:`closest_name`), or ``""`` when none is close; ``quote`` writes the name (``str`` for
    flags such as ``--lr``)."""
    name = closest_name(word, names)
    return "" if name is None else f" (did you mean {quote(name)}?)"


_COMPONENT_ATTRIBUTE = "corenn_component"


def remember_component(exc, where):
    """Note on ``exc``, an exception that is no user's error, the component it escaped from
    (``layers[1] (typo_layer, from corenn-extras)``): the CLI names it before the exception, whose
    type and traceback stay as they were. A component inside another (a residual block's inner
    layer) is noted first; the outer one's note goes in front of it."""
    inner = getattr(exc, _COMPONENT_ATTRIBUTE, None)
    try:
        setattr(exc, _COMPONENT_ATTRIBUTE, f"{where}: {inner}" if inner else where)
    except AttributeError:  # an exception type without a __dict__
        pass


def component_of(exc):
    """The component noted by :func:`remember_component`, or None."""
    return getattr(exc, _COMPONENT_ATTRIBUTE, None)
