"""The training loop: shuffled mini-batches, updates, validation, hooks, checkpoints.

Everything random in a run comes from the run's seed: weights from per-layer generators
(see :mod:`corenn.model`), the batch order and the augmentation's draws from the trainer's own
generators. Their states are part of every checkpoint, so a resumed run continues exactly
where the saved one stopped.

The loop itself is backend-neutral: what differs between numpy arrays and torch tensors (where
the data lives, indexing it with a batch order, counting correct predictions, switching off
autograd) goes through an *array backend*, :class:`NumpyArrays` here and
``corenn_torch.training.TorchArrays`` for torch. The core never imports torch.
"""

import contextlib
import hashlib
import json
import signal
import threading
import time

import attrs
import numpy as np

from corenn.data.loader import augment_batch, averaged_outputs, batch_indices
from corenn.errors import ConfigError, CorruptFileError, DataError, Terminated, TrainingDiverged
from corenn.optimizers import require_lr_scale_support

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


@attrs.define(eq=False)
class EpochProgress:
    """Where the trainer is inside an epoch: its batch order and the running sums."""

    order: np.ndarray
    next_batch: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    started: float = attrs.Factory(time.perf_counter)


def limited_blas_threads(threads):
    """A context capping the BLAS (OpenBLAS, MKL, BLIS) and OpenMP thread pools at ``threads``
    through threadpoolctl, restored on exit; a no-op for ``None``."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


class NumpyArrays:
    """The trainer's array backend for numpy: the data stays where it is, on the host.

    An array backend has ``name``, ``device``, and the methods below; the torch one
    (``corenn_torch.training.TorchArrays``) moves the data to its device once and keeps every
    step there.
    """

    name = "numpy"
    device = "cpu"

    def to_device(self, array):
        """A numpy array (inputs, one-hot targets or labels) where the model computes."""
        return array

    def split(self, split):
        """A prepared split whose X, Y and labels live on the device."""
        return split

    def indices(self, order):
        """A numpy index array as an index for the device's arrays."""
        return order

    def count_correct(self, Y_hat, labels):
        """How many rows' arg-max is the label: an int, or a device scalar read later with int()."""
        return int(np.sum(Y_hat.argmax(axis=1) == labels))

    def no_grad(self):
        return contextlib.nullcontext()

    def limit_threads(self, threads):
        """A context in which the BLAS runs at most ``threads`` threads (``None``: as it is)."""
        return limited_blas_threads(threads)

    def pad_images(self, X, padding, mode="zeros"):
        """``X`` (NHWC) padded by ``padding`` pixels on each side of its height and width, with
        zeros or (``mode="reflect"``) by reflection without repeating the edge pixel."""
        widths = ((0, 0), (padding, padding), (padding, padding), (0, 0))
        return np.pad(X, widths, mode="reflect" if mode == "reflect" else "constant")

    def crop_and_flip(self, X, padding, rows, cols, padding_mode="zeros"):
        """``X`` (NHWC) padded by ``padding`` on each side (see :meth:`pad_images`), then
        gathered at ``rows`` (m, H) and ``cols`` (m, W), numpy index arrays: each sample's crop,
        flipped where its column indices run backwards."""
        if padding:
            X = self.pad_images(X, padding, padding_mode)
        return X[np.arange(len(X))[:, None, None], rows[:, :, None], cols[:, None, :]]

    def flip_images(self, X):
        """``X`` (NHWC) mirrored left-right, as a new contiguous array."""
        return np.ascontiguousarray(X[:, :, ::-1])

    def shift_images(self, X, dy, dx):
        """``X`` (NHWC) moved ``dy`` pixels down and ``dx`` right (negative: up, left), the
        uncovered border filled by reflection: output pixel (y, x) is input pixel (y - dy, x - dx)."""
        padding = max(abs(dy), abs(dx))
        height, width = X.shape[1:3]
        padded = self.pad_images(X, padding, "reflect")
        return np.ascontiguousarray(
            padded[:, padding - dy : padding - dy + height, padding - dx : padding - dx + width]
        )


class DeferredInterrupt:
    """Holds a Ctrl-C (or a SIGTERM) until the trainer's state is whole, then raises
    KeyboardInterrupt (:class:`corenn.errors.Terminated` for SIGTERM).

    An update touches every parameter and the optimizer's state one after another; stopping
    in the middle would leave a state no uninterrupted run ever had, and a checkpoint of it
    would not resume bit for bit. So the first Ctrl-C only sets a flag, which :meth:`check`
    turns into KeyboardInterrupt at the next batch boundary (milliseconds later). A second
    Ctrl-C stops at once. SIGTERM, what ``kill`` and job schedulers send, is handled the same
    way, so a run they stop keeps a checkpoint and says how to continue. Only the main thread
    can own signal handlers; elsewhere, or for a signal the program gave its own handler,
    nothing is deferred.
    """

    def __init__(self):
        self.requested = None  # the exception type to raise at the next check, once a signal came
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        stop = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        if self.requested is not None:
            raise stop
        self.requested = stop

    def check(self):
        """Raise KeyboardInterrupt (or Terminated) now if a signal came in since the last check."""
        if self.requested is not None:
            stop, self.requested = self.requested, None
            raise stop

    def __exit__(self, exc_type, exc_value, traceback):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        if exc_type is None:
            self.check()  # a signal after the last check is still honoured

    @staticmethod
    @contextlib.contextmanager
    def ignored():
        """Ignore Ctrl-C and SIGTERM while the block runs (saving a checkpoint after one, and
        saying how to continue): a second press must not cut that short."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


RESUMABLE_CHANGES = {"epochs", "backend", "device", "threads"}  # what a resume may change of a run's config


class Trainer:
    """Trains ``run.model`` on prepared data with a loss, an optimizer and a scheduler.

    ``changing_state`` is true only while an update or an epoch's bookkeeping is half done;
    a checkpoint taken then would not be a state of the run, so none is written.

    ``augment`` (a config's ``[dataset] augment`` table) is applied to training batches, see
    :func:`corenn.data.loader.augment_batch`; ``test_augment`` (``"none"``, ``"flip"`` or
    ``"flip_translate"``) makes every evaluation average the model's outputs over views of
    each image, see :func:`corenn.data.loader.evaluation_views`. Without a validation split
    (``data.val`` is None) the epochs' metrics simply hold no ``val_*`` entries.
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
    ):
        self.run = run
        self.data = data
        self.arrays = arrays if arrays is not None else NumpyArrays()
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
        self.progress = progress
        self.epoch_progress = None
        self.changing_state = False
        self.interrupts = DeferredInterrupt()
        self._data_fingerprint = None

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
        self._hook("corenn_train_start")
        while run.epoch < run.epochs and not run.stop_requested:
            self.interrupts.check()
            metrics = self.train_epoch(run.epoch + 1)
            self._check_finite_parameters(run.epoch + 1)
            if self.data.val is not None:
                metrics |= self.evaluate(self.data.val, "val")
            metrics["learning_rate"] = float(self.scheduler(max(run.step - 1, 0)))  # the epoch's last update's
            metrics["seconds"] = time.perf_counter() - self.epoch_progress.started
            with self._changing_state():
                run.history.append(metrics)
                run.epoch += 1
                self.epoch_progress = None
            if self.on_checkpoint is not None:
                self.on_checkpoint(self)
            self._hook("corenn_epoch_end", epoch=run.epoch, metrics=metrics)
        self.interrupts.check()
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
            self.interrupts.check()
            start = batch_number * self.batch_size
            index = order[start : start + self.batch_size]
            batch_size = len(index)
            X, Y = train.X[index], train.Y[index]
            if forward_changes_state:
                self.changing_state = True  # reset by the update's block below
            if self.augment:
                sample_indices = progress.order[start : start + self.batch_size]  # on the host, for "alternate" flips
                X = augment_batch(X, self.augment_rng, self.arrays, **self.augment, indices=sample_indices, epoch=epoch)
            Y_hat = self.run.model.forward(X)
            loss = float(self.loss.forward(Y, Y_hat))
            if not np.isfinite(loss) or self._saturated(loss, Y_hat):
                what = f"became {loss}" if not np.isfinite(loss) else f"reached {loss:.1f}"
                why = "" if not np.isfinite(loss) else f", {self._saturation_reason(Y_hat)}"
                raise TrainingDiverged(
                    f"the loss {what} at epoch {epoch}, step {batch_number + 1} of {n_batches} "
                    f"(learning rate {self.optimizer.lr:g}){why}; training stopped",
                    epoch=epoch,
                    step=batch_number + 1,
                )
            self.run.model.backward(self.loss.backward(Y, Y_hat))
            with self._changing_state():
                self.update()
                self.run.step_losses.append(loss)
                self.run.step_learning_rates.append(float(self.optimizer.lr))
                progress.loss_sum += loss * batch_size
                progress.correct += self.arrays.count_correct(Y_hat, train.labels[index])
                progress.seen += batch_size
                progress.next_batch = batch_number + 1
        return {
            "epoch": epoch,
            "train_loss": progress.loss_sum / progress.seen,
            "train_accuracy": int(progress.correct) / progress.seen,
        }

    def _ceiling(self, Y_hat):
        """The loss's ceiling for predictions like ``Y_hat`` (numpy or torch), or ``None`` for a
        loss without one (``ceiling(dtype)``: cross-entropy's floor makes its loss finite)."""
        ceiling = getattr(self.loss, "ceiling", None)
        return None if ceiling is None else ceiling(str(Y_hat.dtype).removeprefix("torch."))

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
        for name, param in model.named_parameters().items():
            if name in lr_scales:
                updated = self.optimizer.update(name, param, gradients[name], lr_scale=lr_scales[name])
            else:
                updated = self.optimizer.update(name, param, gradients[name])
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

    def evaluate(self, split, prefix, batch_size=1024):
        """Mean loss and accuracy of the model on a prepared split, in eval mode (the model's
        mode is restored afterwards) and without autograd; with ``test_augment`` the outputs are
        averaged over the views first, and the loss is that of the averaged outputs."""
        model = self.run.model
        split = self._device_split(split)
        loss_sum = 0.0
        correct = 0
        was_training = model.training
        model.eval()
        try:
            with self.arrays.no_grad():
                for start in range(0, len(split), batch_size):
                    Y = split.Y[start : start + batch_size]
                    Y_hat = averaged_outputs(
                        model.forward, split.X[start : start + batch_size], self.arrays, self.test_augment
                    )
                    loss_sum += float(self.loss.forward(Y, Y_hat)) * len(Y)
                    correct += self.arrays.count_correct(Y_hat, split.labels[start : start + batch_size])
        finally:
            model.train(was_training)
        return {f"{prefix}_loss": loss_sum / len(split), f"{prefix}_accuracy": int(correct) / len(split)}

    # Checkpoints: everything needed to continue bit for bit, as arrays (no pickle).

    def checkpoint_arrays(self):
        """The run's whole state as named arrays; JSON-able parts go in one ``state`` array."""
        run = self.run
        state = {
            "epoch": run.epoch,
            "step": run.step,
            "history": run.history,
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
            "layer_rngs": [_generator_state(getattr(layer, "rng", None)) for layer in run.model.layers],
        }
        if self.augment_rng is not None:
            state["augment_rng"] = self.augment_rng.bit_generator.state
        if hasattr(run.config, "to_dict"):
            state["config"] = run.config.to_dict()
        state["data"] = self.data_fingerprint()
        # Buffers go in as "param/buffer/<name>": the parameter file's table, prefixed.
        arrays = {f"param/{name}": value for name, value in run.model.parameter_arrays().items()}
        arrays |= {f"optimizer/{key}": np.asarray(value) for key, value in self.optimizer.state_dict().items()}
        progress = self.epoch_progress
        if progress is not None:
            state["progress"] = {
                "next_batch": progress.next_batch,
                "loss_sum": progress.loss_sum,
                "correct": int(progress.correct),  # a device scalar on torch
                "seen": progress.seen,
            }
            arrays["progress/order"] = progress.order
        arrays["steps/loss"] = np.asarray(run.step_losses, dtype=np.float64).reshape(-1)
        arrays["steps/learning_rate"] = np.asarray(run.step_learning_rates, dtype=np.float64).reshape(-1)
        arrays["state"] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
        return arrays

    def restore(self, arrays, origin):
        """Continue from :meth:`checkpoint_arrays`' output (read back from ``origin``).

        A checkpoint that does not fit this model, this data or this config raises
        (CorruptFileError, ConfigError or DataError naming the file); a trainer whose restore
        failed may be partly restored and is not to be trained.
        """
        try:
            state = json.loads(arrays["state"].tobytes().decode("utf-8"))
            self._check_same_config(state.get("config"), origin)
            if state.get("data", self.data_fingerprint()) != self.data_fingerprint():
                raise DataError(
                    f"the training data differs from the data checkpoint {origin} was made with "
                    f"(another --data-dir, or changed files?); resume with the same data, or start a new run"
                )
            params = {key[len("param/") :]: value for key, value in arrays.items() if key.startswith("param/")}
            optimizer_state = {
                key[len("optimizer/") :]: _scalar_or_array(value)
                for key, value in arrays.items()
                if key.startswith("optimizer/")
            }
            progress = None
            if "progress" in state:
                progress = EpochProgress(
                    _checked_order(arrays["progress/order"], len(self.data.train)), **state["progress"]
                )
                n_batches = len(batch_indices(len(self.data.train), self.batch_size))
                if not 0 <= progress.next_batch <= n_batches:
                    raise ValueError(f"next batch {progress.next_batch} is outside 0..{n_batches}")
            epoch, step, history = int(state["epoch"]), int(state["step"]), list(state["history"])
            if epoch < 0 or step < 0 or len(history) != epoch:
                raise ValueError(f"epoch {epoch}, step {step} and {len(history)} history rows do not agree")
            step_losses, step_learning_rates = _saved_steps(arrays, step)
            self.run.model.load_parameters(params)
            self.optimizer.load_state_dict(optimizer_state)
            self.shuffle_rng.bit_generator.state = state["shuffle_rng"]
            if self.augment_rng is not None and "augment_rng" in state:
                self.augment_rng.bit_generator.state = state["augment_rng"]
            # Not strict: a checkpoint without "layer_rngs" leaves every layer's generator as built.
            for layer, layer_rng_state in zip(self.run.model.layers, state.get("layer_rngs", ()), strict=False):
                if layer_rng_state is not None and isinstance(getattr(layer, "rng", None), np.random.Generator):
                    layer.rng.bit_generator.state = layer_rng_state
            self.run.epoch, self.run.step, self.run.history = epoch, step, history
            self.run.step_losses, self.run.step_learning_rates = step_losses, step_learning_rates
            self.epoch_progress = progress
        except (ConfigError, DataError):
            raise
        except CorruptFileError as exc:
            raise CorruptFileError(f"checkpoint {origin}: {exc}") from exc
        except (KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(
                f"checkpoint {origin} is incomplete or corrupt ({type(exc).__name__}: {exc})"
            ) from exc

    def data_fingerprint(self):
        """A digest of the prepared training split: a resumed run must see the same data.

        Computed once per trainer (MNIST's training split is about 170 MB in float32).
        """
        if self._data_fingerprint is None:
            digest = hashlib.blake2b(digest_size=16)
            train = self.data.train
            for array in (train.X, train.labels):
                array = np.ascontiguousarray(array)
                digest.update(f"{array.dtype.str}{array.shape}".encode())
                digest.update(memoryview(array).cast("B"))
            self._data_fingerprint = digest.hexdigest()
        return self._data_fingerprint

    def _check_same_config(self, saved, origin):
        """A resumed run must be the run that was saved: only ``epochs``, where it computes
        (``backend``, ``device``: a checkpoint holds plain arrays on every backend) and
        ``threads`` (speed, not results) may differ."""
        current = self.run.config.to_dict() if hasattr(self.run.config, "to_dict") else None
        if saved is None or current is None:
            return
        changed = sorted(_changed_keys(_json_form(saved), _json_form(current)) - RESUMABLE_CHANGES)
        if changed:
            raise ConfigError(
                f"the run's config differs from the one checkpoint {origin} was made with "
                f"(changed: {', '.join(changed)}); a resumed run keeps its config, only --epochs, "
                f"--backend and --device may change: start a new run for a different config"
            )


def _generator_state(rng):
    return rng.bit_generator.state if isinstance(rng, np.random.Generator) else None


def _json_form(value):
    return json.loads(json.dumps(value))


def _changed_keys(saved, current, prefix=""):
    """Dotted keys (``optimizer.lr``, ``layers[0].n_out``) whose values differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        changed = set()
        for key in set(saved) | set(current):
            changed |= _changed_keys(saved.get(key), current.get(key), f"{prefix}.{key}" if prefix else key)
        return changed
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        changed = set()
        for index, (old, new) in enumerate(zip(saved, current, strict=True)):
            changed |= _changed_keys(old, new, f"{prefix}[{index}]")
        return changed
    return set() if saved == current else {prefix}


def _checked_order(order, n_samples):
    """The saved batch order must be a permutation of the training split's indices."""
    if order.shape != (n_samples,) or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(
            f"the saved batch order has shape {order.shape} and dtype {order.dtype}, expected ({n_samples},) integers"
        )
    if not np.array_equal(np.sort(order), np.arange(n_samples)):
        raise ValueError("the saved batch order is not a permutation of the training samples")
    return order


def _saved_steps(arrays, n_steps):
    """The per-step losses and learning rates of a checkpoint, as lists of floats.

    A checkpoint made before they were recorded has none: its steps are NaN (unknown), so the
    step numbers of later steps stay right.
    """
    if "steps/loss" not in arrays:
        unknown = [float("nan")] * n_steps
        return unknown, list(unknown)
    losses, learning_rates = arrays["steps/loss"], arrays.get("steps/learning_rate")
    for name, values in (("losses", losses), ("learning rates", learning_rates)):
        if values is None or values.shape != (n_steps,) or not np.issubdtype(values.dtype, np.floating):
            shape = None if values is None else values.shape
            raise ValueError(f"the saved per-step {name} have shape {shape}, expected ({n_steps},) floats")
    return losses.astype(np.float64).tolist(), learning_rates.astype(np.float64).tolist()


def _scalar_or_array(value):
    return value.item() if value.ndim == 0 else value
