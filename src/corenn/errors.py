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
