"""A tracker whose lifecycle hooks misbehave: corenn_step_end raises at every step, and
corenn_epoch_end empties the metrics it is given and writes a string into them."""

import corenn


@corenn.hookimpl
def corenn_step_end(run, step, metrics):
    raise ValueError(f"tracker offline at step {step}")


@corenn.hookimpl
def corenn_epoch_end(run, epoch, metrics):
    metrics.clear()
    metrics["val_accuracy"] = "n/a"
