"""Classification or regression: what a run's network predicts, and how a regression is scored.

A classification network gives each class a probability and is scored by its accuracy; a
regression network gives values (one per target column) and is scored by the mean squared
error, the mean absolute error and the coefficient of determination R^2, all in the targets'
own units (the network itself learns standardised targets: see
:func:`corenn.data.loader.prepare`). Multi-target scores are averaged over the targets, as
scikit-learn's ``uniform_average``.

Which task a run is comes from its config (:func:`task_of`): ``[dataset] task`` when set,
else inferred, and said: a network whose last layer gives no probabilities (a linear,
relu, tanh or arctan output) trained with another loss than cross-entropy (``l2``) predicts
values; any other network classifies.
"""

import numpy as np

from corenn.data.splits import TASKS
from corenn.errors import ConfigError

TASK_CHOICES = (*TASKS, "auto")
REGRESSION_METRICS = ("mse", "mae", "r2")


def check_task(task, key="dataset.task"):
    if task not in TASK_CHOICES:
        raise ConfigError(
            f'{key} must be "classification" (labels are classes), "regression" (labels are values to '
            f'predict) or "auto" (inferred from the loss and the last layer), got {task!r}'
        )
    return task


def infer_task(loss_name, output_is_probability):
    """The task a network implies: values (``"regression"``) when its last layer gives no
    probabilities and its loss is not cross-entropy, classes otherwise; with the reason, for
    the line that says so."""
    if loss_name != "cross_entropy" and not output_is_probability:
        return "regression", f"loss {loss_name!r} with a last layer that gives values, not probabilities"
    return "classification", "a last layer that gives probabilities" if output_is_probability else "the loss"


def spread_about_mean(targets):
    """Per target column: the sum of squared deviations from the column's mean (R^2's
    denominator), in the targets' own units."""
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    return ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)


def regression_metrics(prefix, squared, absolute, count, spread, scale):
    """``{prefix}_mse``, ``{prefix}_mae`` and ``{prefix}_r2`` from errors summed over ``count``
    samples in standardised units (``squared``, ``absolute``: one sum per target), the targets'
    ``spread`` about their mean (:func:`spread_about_mean`) and their standardisation's
    ``scale`` (standard deviation), which brings the errors back to the targets' units.

    R^2 is ``1 - squared error / spread``; for a constant target (no spread) it is 1.0 when
    every prediction is exact and 0.0 otherwise, as scikit-learn's ``r2_score``."""
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1), np.shape(squared))
    squared = np.asarray(squared, dtype=np.float64) * scale**2
    absolute = np.asarray(absolute, dtype=np.float64) * scale
    spread = np.asarray(spread, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1.0 - squared / np.where(spread > 0, spread, 1.0), np.where(squared == 0, 1.0, 0.0))
    return {
        f"{prefix}_mse": float(np.mean(squared) / count),
        f"{prefix}_mae": float(np.mean(absolute) / count),
        f"{prefix}_r2": float(np.mean(r2)),
    }


def scores_of(predicted, targets):
    """MSE, MAE and R^2 of predicted values against targets, both in the targets' units and of
    shape ``(samples, targets)``: ``{"mse": ..., "mae": ..., "r2": ...}``."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(predicted), -1)
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    difference = predicted - targets
    metrics = regression_metrics(
        "x",
        (difference**2).sum(axis=0),
        np.abs(difference).sum(axis=0),
        len(targets),
        spread_about_mean(targets),
        1.0,
    )
    return {name[2:]: value for name, value in metrics.items()}
