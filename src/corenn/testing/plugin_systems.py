"""Plugin systems for tests: in-memory plugins beside the installed ones, made the process-wide
system for a ``with`` block, and a run callback that presses Ctrl-C at an epoch's end.

Tests that train need components no installed package registers (a toy data set, a layer that
records its inputs): :func:`plugin_system_from` and :func:`plugins_in_use` give them a plugin
system with in-memory plugins, and :class:`InterruptAtEpochEnd` presses Ctrl-C in a run, to
check that it resumes exactly.
"""

import contextlib
import types

import corenn.plugins
from corenn.hookspecs import hookimpl
from corenn.plugins import PluginInfo, PluginSystem


def plugin_system_from(*plugins, strict=False, distribution=None, version="0"):
    """A plugin system of the installed plugins plus ``plugins``, objects that hold hook implementations.

    For tests that need a component registered without building and installing a distribution.
    A plugin may be a module, an instance, or a class (made into an instance with no arguments,
    as hook implementations are methods). Each is named after its ``__name__`` (its class's,
    for an instance) and shown by ``corenn plugins`` as coming from ``distribution`` (default: that
    name) at ``version``. They load after the installed ones and as those do: a mistake (a name
    already registered, a misspelled hook) fails or warns as it would for an installed third party,
    and is an error when ``strict``. Make the system the one corenn uses with :func:`plugins_in_use`.
    """
    system = PluginSystem(strict=strict).load()
    for plugin in plugins:
        name = getattr(plugin, "__name__", type(plugin).__name__)
        source = name if isinstance(plugin, types.ModuleType) else f"{getattr(plugin, '__module__', '?')}:{name}"
        info = PluginInfo(name, distribution or name, version, source)
        system._add(info, lambda plugin=plugin: plugin() if isinstance(plugin, type) else plugin)
    return system


@contextlib.contextmanager
def plugins_in_use(system):
    """Make ``system`` the process-wide plugin system while the ``with`` block runs.

    Everything that looks components up by name (:func:`corenn.create`, training, the ``corenn``
    command run in-process) then uses it; on leaving the block, even by an exception, the
    previous system is back, so one test's plugins never leak into the next.
    """
    previous = corenn.plugins._system
    corenn.plugins._system = system
    try:
        yield system
    finally:
        corenn.plugins._system = previous


class InterruptAtEpochEnd:
    """A run callback that presses Ctrl-C (raises KeyboardInterrupt) at the end of epoch ``epoch``.

    Training saves a checkpoint and lets the interrupt out, as it does for a real Ctrl-C. To check
    that a component resumes exactly: train with ``callbacks=[InterruptAtEpochEnd(2)]``, resume
    the run, and compare it with the same run trained in one go.
    """

    def __init__(self, epoch):
        self.epoch = epoch

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        if epoch == self.epoch:
            raise KeyboardInterrupt
