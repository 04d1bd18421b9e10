"""The training loop: shuffled mini-batches, updates, validation, hooks, divergence checks.

Everything random in a run comes from the run's seed: weights from per-layer generators
(see :mod:`corenn.nn.model`), the batch order and the augmentation's draws from the trainer's own
generators. Their states are part of every checkpoint (:mod:`corenn.run.checkpoints`), so a
resumed run continues exactly where the saved one stopped.

The loop itself is backend-neutral: what differs between numpy arrays and torch tensors goes
through the run's backend object (:class:`corenn.backend.Backend`, found by name in the loaded plugins:
:func:`corenn.plugins.get_backend`). The core never imports torch.
"""

import contextlib
import functools
import time

import attrs
import numpy as np

from corenn.data.loader import augment_batch, averaged_outputs
from corenn.data.tasks import regression_metrics, spread_about_mean
from corenn.errors import TrainingDiverged
from corenn.nn.optimizers import require_lr_scale_support, update_one
from corenn.plugins import get_backend, get_plugins
from corenn.run.distributed import GradientBuckets, bucket_bytes, check_same_parameters, share
from corenn.run.interrupts import DeferredInterrupt
from corenn.run.resources import evaluation_batch_size

SATURATED_FRACTION = 0.5  # of a loss's ceiling: see Trainer._saturated


@attrs.define(eq=False)
class TrainingRun:
    """What hooks see of a run. Set ``stop_requested`` to end it after the current epoch.

    ``history`` holds one metrics dict per epoch; ``step_losses`` and ``step_learning_rates``
    one float per update (the mini-batch's loss before it, and the scheduler's learning rate it
    used; a parameter with an ``lr_scale`` used that rate times its scale), so
    ``step_losses[i]`` belongs to step ``i + 1``. Both are part of every checkpoint.
    """

    config: object
    model: object
    run_dir: object
    epochs: int
    history: list = attrs.Factory(list)
    epoch: int = 0
    step: int = 0
    stop_requested: bool = False
    step_losses: list = attrs.Factory(list)
    step_learning_rates: list = attrs.Factory(list)


def _error_sums(value):
    return None if value is None else np.asarray(value, dtype=np.float64)


@attrs.define(eq=False)
class EpochProgress:
    """Where the trainer is inside an epoch: its batch order and the running sums
    (``correct`` for classification; ``errors`` for regression: the squared and the absolute
    errors summed per target, in standardised units, rows 0 and 1)."""

    order: np.ndarray
    next_batch: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    started: float = attrs.Factory(time.perf_counter)
    errors: np.ndarray | None = attrs.field(default=None, converter=_error_sums)


class Trainer:
    """Trains ``run.model`` on prepared data with a loss, an optimizer and a scheduler.

    ``changing_state`` is true only while an update or an epoch's bookkeeping is half done;
    a checkpoint taken then would not be a state of the run, so none is written.
    ``on_checkpoint(trainer)``, when given, is called at every epoch's end once its state is
    whole: :func:`corenn.run.train.execute` writes the run's records there (the epoch's rows, and
    the checkpoint when it is due, see :class:`corenn.run.checkpoints.RunRecords`).

    ``augment`` (a config's ``[dataset] augment`` table) is applied to training batches, see
    :func:`corenn.data.loader.augment_batch`; ``test_augment`` (``"none"``, ``"flip"`` or
    ``"flip_translate"``) makes every evaluation average the model's outputs over views of
    each image, see :func:`corenn.data.loader.evaluation_views`. Without a validation split
    (``data.val`` is None) the epochs' metrics simply hold no ``val_*`` entries.

    A classification run's metrics are each split's loss and accuracy; a regression run's
    (``data.task == "regression"``) its loss (of the standardised targets, what the optimizer
    sees) and the mean squared error, mean absolute error and R^2 in the targets' own units
    (``train_mse``, ``val_mae``, ``test_r2``...; see :func:`corenn.data.tasks.regression_metrics`).
    """

    def __init__(
        self,
        run,
        data,
        loss,
        optimizer,
        scheduler,
        *,
        batch_size,
        shuffle_rng,
        hooks=None,
        on_checkpoint=None,
        progress=None,
        arrays=None,
        augment=None,
        augment_rng=None,
        test_augment="none",
        group=None,
    ):
        self.run = run
        self.group = group  # a data-parallel run's process group (see corenn.run.distributed), else None
        self._gradient_buckets = None  # a data-parallel run's, made at its first step
        self.data = data
        self.arrays = arrays if arrays is not None else get_backend("numpy").on("cpu")
        # The splits where the model computes (the host arrays themselves on numpy).
        self._device_splits = {
            id(split): self.arrays.split(split) for split in (data.train, data.val, data.test) if split is not None
        }
        self.augment = dict(augment or {})
        if self.augment and augment_rng is None:
            raise ValueError("augmentation needs its own generator (augment_rng)")
        self.augment_rng = augment_rng
        self._scaled_parameters = None  # see _lr_scales
        self.test_augment = test_augment
        self.loss = loss
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.batch_size = batch_size
        self.shuffle_rng = shuffle_rng
        self.hooks = hooks
        self.on_checkpoint = on_checkpoint
        # before_test(trainer), when given, is called once the epochs are done, before the test
        # split is evaluated: restore_best puts the best epoch's parameters in there (corenn.run.train).
        self.before_test = None
        self.progress = progress
        self.epoch_progress = None
        self.changing_state = False
        self.interrupts = DeferredInterrupt()
        self.stop_agreed = False  # a data-parallel run's ranks agreed to stop (see _data_parallel_step)
        self._step_hook = False  # whether corenn_step_end is implemented, see _fit
        self.data_digest = None  # the training split's digest, see corenn.run.checkpoints.data_fingerprint
        self._evaluation_batch = None  # see evaluate
        self.task = getattr(data, "task", "classification")
        self._spreads = {}  # a regression split's spread about its mean, per split: see _regression_metrics
        self._ceilings = {}  # the loss's ceiling per dtype of the predictions: see _ceiling

    def _hook(self, name, **kwargs):
        if self.hooks is not None:
            self.hooks(name, run=self.run, **kwargs)

    @contextlib.contextmanager
    def _changing_state(self):
        # No try/finally on purpose: a change cut short by an exception stays marked as unfinished.
        self.changing_state = True
        yield
        self.changing_state = False

    def fit(self):
        """Train until ``run.epochs`` or a stop request; returns the final metrics.

        Ctrl-C (KeyboardInterrupt) is taken at the next batch boundary, see
        :class:`DeferredInterrupt`; the caller saves a checkpoint then.
        """
        # The trainer checks every loss and, at each epoch's end, every parameter for NaN and
        # infinity and stops with a message saying where; numpy's overflow warnings on the way
        # there would only bury that message.
        with self.interrupts, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._fit()

    def _fit(self):
        run = self.run
        # Checked once: without an implementation the per-step hook costs nothing.
        self._step_hook = self.hooks is not None and get_plugins().implements("corenn_step_end")
        self._hook("corenn_train_start")
        while run.epoch < run.epochs and not run.stop_requested:
            self.interrupts.check()
            metrics = self.train_epoch(run.epoch + 1)
            self._check_finite_parameters(run.epoch + 1)
            if self.group is not None:
                self._agree_across_ranks(run.epoch + 1)
            if self.data.val is not None:
                metrics |= self.evaluate(self.data.val, "val")
            # the rate the epoch's last update used, as recorded (not computed again from the step count)
            metrics["learning_rate"] = run.step_learning_rates[-1] if run.step_learning_rates else self.optimizer.lr
            metrics["seconds"] = time.perf_counter() - self.epoch_progress.started
            with self._changing_state():
                run.history.append(metrics)
                run.epoch += 1
                self.epoch_progress = None
            if self.on_checkpoint is not None:
                self.on_checkpoint(self)
            self._hook("corenn_epoch_end", epoch=run.epoch, metrics=metrics)
        self.interrupts.check()
        if self.before_test is not None:
            self.before_test(self)
        final = dict(run.history[-1]) if run.history else {}
        if self.data.test is not None:
            final |= self.evaluate(self.data.test, "test")
        self._hook("corenn_train_end", metrics=final)
        return final

    def _device_split(self, split):
        device_split = self._device_splits.get(id(split))
        return device_split if device_split is not None else self.arrays.split(split)

    def train_epoch(self, epoch):
        """One pass over the training split (resuming inside it if a checkpoint said so)."""
        if self.epoch_progress is None:
            self.epoch_progress = EpochProgress(self.shuffle_rng.permutation(len(self.data.train)))
        progress = self.epoch_progress
        n_samples = len(progress.order)
        n_batches = -(-n_samples // self.batch_size)
        train = self._device_split(self.data.train)
        order = self.arrays.indices(progress.order)  # moved to the device once per epoch
        steps = range(progress.next_batch, n_batches)
        if self.progress is not None:
            steps = self.progress(steps, epoch, self.run.epochs)
        self.run.model.train()
        # A plain forward pass changes nothing a checkpoint holds, so an interrupt before the
        # update may save the epoch so far. Augmentation draws, dropout masks and running
        # statistics do change it: then the whole step is one change.
        forward_changes_state = bool(self.augment) or any(
            hasattr(layer, "training") or getattr(layer, "buffers", None) for layer in self.run.model.layers
        )
        for batch_number in steps:
            if self.group is None or self.stop_agreed:  # the ranks stop together, see _data_parallel_step
                self.interrupts.check()
            if self.group is not None:
                with self._changing_state():
                    self._data_parallel_step(train, order, batch_number, n_batches, epoch)
                continue
            if forward_changes_state:
                self.changing_state = True  # reset by the update's block below
            index, X = self._global_batch(train, order, batch_number, epoch)
            Y = train.Y[index]
            Y_hat = self.run.model.forward(X)
            loss = float(self.loss.forward(Y, Y_hat))
            self._check_divergence(loss, Y_hat, epoch, batch_number, n_batches)
            self.run.model.backward(self.loss.backward(Y, Y_hat))
            with self._changing_state():
                self.update()
                correct = self._score(Y_hat, Y, train.labels[index])
                self._record_step(loss, correct, len(index), batch_number)
            self._report_step(loss, correct, len(index))
        metrics = {"epoch": epoch, "train_loss": progress.loss_sum / progress.seen}
        if self.task == "regression":
            return metrics | self._regression_metrics("train", progress.errors, progress.seen, self.data.train)
        return metrics | {"train_accuracy": int(progress.correct) / progress.seen}

    def _score(self, Y_hat, Y, labels):
        """A batch's score: how many predictions were right (classification; an int or a device
        scalar), or the squared and absolute errors summed per target (regression, a numpy
        array of two rows, standardised units)."""
        if self.task != "regression":
            return self.arrays.count_correct(Y_hat, labels)
        difference = Y_hat - Y
        squared = self.arrays.to_numpy((difference * difference).sum(0))
        absolute = self.arrays.to_numpy(abs(difference).sum(0))
        return np.stack([squared, absolute]).astype(np.float64)

    def _regression_metrics(self, prefix, errors, count, split):
        """``{prefix}_mse``, ``_mae`` and ``_r2`` of summed errors over ``count`` samples of
        ``split`` (a prepared split, whose ``targets`` give the spread that R^2 compares with)."""
        spread = self._spreads.get(id(split))
        if spread is None:
            spread = self._spreads[id(split)] = spread_about_mean(split.targets)
        scale = self.data.target_standardizer.std * self.data.target_standardizer.scale
        return regression_metrics(prefix, errors[0], errors[1], count, spread, scale)

    def _data_parallel_step(self, train, order, batch_number, n_batches, epoch):
        """One step of a data-parallel run: this rank's contiguous share of the global batch
        (augmented as one process would augment the whole batch), its gradients scaled by its
        share of the batch's samples and summed across the ranks with the loss and the correct
        count (bucket by bucket, during backward: see GradientBuckets), the same update on every
        rank. Sums are reordered, nothing else."""
        index, X = self._global_batch(train, order, batch_number, epoch)
        batch_size = len(index)
        low, high = share(batch_size, self.group.rank, self.group.world_size)
        model = self.run.model
        regression = self.task == "regression"
        local_loss = 0.0
        local_correct = np.zeros((2, self.data.n_classes)) if regression else 0
        backward = None  # this rank's gradients are zeros when it has no share of the batch
        if high > low:
            X, Y, labels = X[low:high], train.Y[index[low:high]], train.labels[index[low:high]]
            Y_hat = model.forward(X)
            local_loss = float(self.loss.forward(Y, Y_hat)) * (high - low)
            local_correct = self._score(Y_hat, Y, labels)
            # The loss is this share's mean: scaled, its gradient is the global batch mean's share.
            dLdY = self.loss.backward(Y, Y_hat) * ((high - low) / batch_size)
            backward = functools.partial(model.backward, dLdY)
        else:
            for value in model.named_gradients().values():
                value[...] = 0
        scores = list(local_correct.ravel()) if regression else [local_correct]
        # A Ctrl-C or SIGTERM reaches the ranks at slightly different moments: each says in the
        # step's all-reduce whether one came, and all stop after the same step.
        stop = float(self.interrupts.requested is not None)
        if self._gradient_buckets is None:
            self._gradient_buckets = GradientBuckets(self.group, model, bucket_bytes())
        # backward runs in there, each bucket's all-reduce starting once its layers are done
        loss_sum, stops, *summed = self._gradient_buckets.backward_and_sum(backward, [local_loss, stop, *scores])
        gradients = model.named_gradients()
        if stops:
            self.stop_agreed = True
            self.interrupts.requested = self.interrupts.requested or KeyboardInterrupt
        loss = loss_sum / batch_size
        # the gradients have the predictions' dtype, which is all the ceiling depends on
        self._check_divergence(loss, next(iter(gradients.values())), epoch, batch_number, n_batches)
        self.update()
        # summed in the gradients' dtype: a float holding a count
        correct = np.reshape(summed, (2, -1)) if regression else int(round(summed[0]))
        self._record_step(loss, correct, batch_size, batch_number)
        self._report_step(loss, correct, batch_size)

    def _global_batch(self, train, order, batch_number, epoch):
        """Batch ``batch_number`` of the epoch's ``order``: its sample indices, and its inputs
        augmented as one process augments them (the draws advance ``augment_rng``)."""
        start = batch_number * self.batch_size
        index = order[start : start + self.batch_size]
        X = train.X[index]
        if self.augment:
            # the indices on the host, where "alternate" flips read them
            sample_indices = self.epoch_progress.order[start : start + self.batch_size]
            X = augment_batch(X, self.augment_rng, self.arrays, **self.augment, indices=sample_indices, epoch=epoch)
        return index, X

    def _record_step(self, loss, correct, batch_size, batch_number):
        """After an update: the step's loss and learning rate, and the epoch's running totals
        (``correct`` may stay on the device: the epoch's end reads it once)."""
        progress = self.epoch_progress
        self.run.step_losses.append(loss)
        self.run.step_learning_rates.append(float(self.optimizer.lr))
        progress.loss_sum += loss * batch_size
        if self.task == "regression":
            progress.errors = correct if progress.errors is None else progress.errors + correct
        else:
            progress.correct += correct
        progress.seen += batch_size
        progress.next_batch = batch_number + 1

    def _report_step(self, loss, correct, batch_size):
        """The step's loss, accuracy and learning rate to ``corenn_step_end``, when a plugin listens."""
        if self._step_hook:
            if self.task == "regression":  # the batch's mean squared error, standardised units
                step_metrics = {"loss": loss, "mse": float(np.mean(correct[0])) / batch_size}
            else:
                step_metrics = {"loss": loss, "accuracy": int(correct) / batch_size}
            step_metrics["learning_rate"] = self.optimizer.lr
            self._hook("corenn_step_end", step=self.run.step, metrics=step_metrics)

    def _agree_across_ranks(self, epoch):
        """At an epoch's end: rank 0's running statistics to every rank (unless batch norm is
        synchronised, which keeps them equal), then the parameters' checksums compared."""
        buffers = self.run.model.named_buffers()
        if buffers and not getattr(self.run.config, "sync_batch_norm", False):
            self.group.broadcast(list(buffers.values()))
        check_same_parameters(self.group, self.run.model, epoch)

    def _ceiling(self, Y_hat):
        """The loss's ceiling for predictions like ``Y_hat`` (numpy or torch), or ``None`` for a
        loss without one (``ceiling(dtype)``: cross-entropy's floor makes its loss finite).
        Computed once per dtype: every step asks."""
        dtype = Y_hat.dtype
        if dtype not in self._ceilings:
            ceiling = getattr(self.loss, "ceiling", None)
            self._ceilings[dtype] = None if ceiling is None else ceiling(str(dtype).removeprefix("torch."))
        return self._ceilings[dtype]

    def _check_divergence(self, loss, Y_hat, epoch, batch_number, n_batches):
        """Stop training (:class:`TrainingDiverged`) on a loss that is not finite or is stuck near
        its ceiling (see :meth:`_saturated`) for predictions of ``Y_hat``'s dtype."""
        if np.isfinite(loss) and not self._saturated(loss, Y_hat):
            return
        what = f"became {loss}" if not np.isfinite(loss) else f"reached {loss:.1f}"
        why = "" if not np.isfinite(loss) else f", {self._saturation_reason(Y_hat)}"
        raise TrainingDiverged(
            f"the loss {what} at epoch {epoch}, step {batch_number + 1} of {n_batches} "
            f"(learning rate {self.optimizer.lr:g}){why}; training stopped",
            epoch=epoch,
            step=batch_number + 1,
        )

    def _saturated(self, loss, Y_hat):
        """Whether a finite ``loss`` is stuck near its ceiling, which only a diverged network
        reaches: at least half of it means the average true class got a probability below
        ``exp(-ceiling / 2)`` (1e-154 in float64, 1e-19 in float32)."""
        ceiling = self._ceiling(Y_hat)
        return ceiling is not None and loss >= SATURATED_FRACTION * ceiling

    def _saturation_reason(self, Y_hat):
        dtype = str(Y_hat.dtype).removeprefix("torch.")
        return (
            f"over half the {self._ceiling(Y_hat):.1f} a {dtype} cross-entropy reaches when the true classes "
            "get probability 0: the network has diverged"
        )

    @property
    def steps_per_epoch(self):
        """Updates per epoch: one per mini-batch, the last one possibly smaller."""
        return -(-len(self.data.train) // self.batch_size)

    def _check_finite_parameters(self, epoch):
        """The loss of a step is checked before its update; this catches the epoch's last update."""
        n_steps = self.steps_per_epoch
        for name, value in self.run.model.named_parameters().items():
            # a torch tensor has isfinite(); a numpy array does not
            finite = value.isfinite().all() if hasattr(value, "isfinite") else np.all(np.isfinite(value))
            if not bool(finite):
                raise TrainingDiverged(
                    f"parameter {name} became NaN or infinite at epoch {epoch}, step {n_steps} of {n_steps} "
                    f"(learning rate {self.optimizer.lr:g}); training stopped",
                    epoch=epoch,
                    step=n_steps,
                )

    def update(self):
        """One optimizer step over every parameter, at the scheduler's learning rate.

        A parameter with a learning-rate factor other than 1 (a layer's ``lr_scale``) gets it as
        ``lr_scale=``; others are updated without the keyword, so optimizers from plugins that
        do not know it still run configs that scale nothing.
        """
        model = self.run.model
        self.optimizer.lr = float(self.scheduler(self.run.step))
        gradients = model.named_gradients()
        lr_scales = self._lr_scales()
        update_all = getattr(self.optimizer, "update_all", None)  # one call for all (corenn's optimizers)
        if update_all is not None:
            for name, updated in update_all(model.named_parameters(), gradients, lr_scales).items():
                model.set_parameter(name, updated)
            self.run.step += 1
            return
        for name, param in model.named_parameters().items():  # an optimizer without update_all
            updated = update_one(self.optimizer, name, param, gradients[name], lr_scales)
            if updated is not param:
                model.set_parameter(name, updated)
        self.run.step += 1

    def _lr_scales(self):
        """The model's learning-rate factors other than 1, read (and the optimizer checked for
        ``lr_scale`` support) at the first update only: they are fixed for a run."""
        if self._scaled_parameters is None:
            model = self.run.model
            scales = {name: factor for name, factor in model.named_lr_scales().items() if factor != 1.0}
            if scales:
                optimizer_config = getattr(self.run.config, "optimizer", None)
                require_lr_scale_support(self.optimizer, scales, getattr(optimizer_config, "name", None))
            self._scaled_parameters = scales
        return self._scaled_parameters

    def evaluate(self, split, prefix, batch_size=None):
        """Mean loss and accuracy of the model on a prepared split, in eval mode (the model's
        mode is restored afterwards) and without autograd; with ``test_augment`` the outputs are
        averaged over the views first, and the loss is that of the averaged outputs.

        ``batch_size`` defaults to 1,024 samples, fewer where a network's outputs are too wide
        for that to fit in memory (chosen at the first evaluation, see
        :func:`corenn.run.resources.evaluation_batch_size`)."""
        model = self.run.model
        if batch_size is None:
            if self._evaluation_batch is None:
                self._evaluation_batch = evaluation_batch_size(model, self.arrays)
            batch_size = self._evaluation_batch
        host_split = split
        split = self._device_split(split)
        loss_sum = 0.0
        correct = np.zeros((2, self.data.n_classes)) if self.task == "regression" else 0
        low, high = (0, len(split)) if self.group is None else share(len(split), self.group.rank, self.group.world_size)
        was_training = model.training
        model.eval()
        try:
            with self.arrays.no_grad():
                for start in range(low, high, batch_size):
                    stop = min(start + batch_size, high)
                    Y = split.Y[start:stop]
                    Y_hat = averaged_outputs(model.forward, split.X[start:stop], self.arrays, self.test_augment)
                    loss_sum += float(self.loss.forward(Y, Y_hat)) * len(Y)
                    correct = correct + self._score(Y_hat, Y, split.labels[start:stop])
        finally:
            model.train(was_training)
        if self.task == "regression":
            if self.group is not None:
                loss_sum, *summed = self.group.all_reduce_sum([], scalars=[loss_sum, *correct.ravel()])
                correct = np.reshape(summed, (2, -1))
            metrics = self._regression_metrics(prefix, correct, len(split), host_split)
            return {f"{prefix}_loss": loss_sum / len(split)} | metrics
        if self.group is not None:  # each rank evaluated its share: the sums over every rank
            loss_sum, correct = self.group.all_reduce_sum([], scalars=[loss_sum, int(correct)])
        return {f"{prefix}_loss": loss_sum / len(split), f"{prefix}_accuracy": int(correct) / len(split)}


REGRESSION_RESULT_KEYS = tuple(
    f"{split}_{metric}" for split in ("train", "val", "test") for metric in ("mse", "mae", "r2")
)


def task_result(final, task):
    """What a run's result adds for its task: nothing for classification (its result keeps the
    accuracies it always had), the task and the error metrics of every split for regression."""
    if task != "regression":
        return {}
    return {"task": task} | {key: final.get(key) for key in REGRESSION_RESULT_KEYS}
