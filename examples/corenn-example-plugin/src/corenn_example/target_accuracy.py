"""The plugin's lifecycle hooks: stop a run once its validation accuracy reaches a target.

A run asks for it in its config, in the plugin's own table (named after the entry point)::

    [plugins.example]
    target_accuracy = 0.95

``corenn_check_config`` checks that table before anything of the run is built (a bad value is
one line naming the key, and the run does not start); ``corenn_epoch_end`` reads each epoch's
metrics and sets ``run.stop_requested``. A run without the table pays one dictionary look-up
per epoch. The hooks are imported by :mod:`corenn_example.plugin`, the entry point's module.
"""

import numbers

from corenn.errors import ConfigError

TABLE = "example"  # the entry point's name: [plugins.example]
OPTIONS = ("target_accuracy",)


def target_accuracy(config):
    """The run's target validation accuracy, or ``None`` when its config sets none."""
    table = (config.plugins or {}).get(TABLE) or {}
    return table.get("target_accuracy")


def check_table(config):
    table = (config.plugins or {}).get(TABLE)
    if table is None:
        return
    unknown = sorted(set(table) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"plugins.{TABLE} has no option {', '.join(map(repr, unknown))}; its options are: {', '.join(OPTIONS)}"
        )
    value = table.get("target_accuracy")
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1):
        raise ConfigError(f"plugins.{TABLE}.target_accuracy must be a number in (0, 1], got {value!r}")


def stop_when_reached(run, epoch, metrics):
    target = target_accuracy(run.config)
    accuracy = metrics.get("val_accuracy")
    if target is not None and accuracy is not None and accuracy >= target:
        run.stop_requested = True
