"""The course's ``models``: its ``NeuralNetwork`` over corenn's layers, loss and optimizer.

The loop is the course's: per mini-batch ``forward``, ``backward`` (the loss's gradient back
through the layers), ``update`` (``param -= optimizer.update(...)``, then ``clear_gradients``);
per epoch a validation pass and one push to the logger. Every pass (a training epoch, a
validation, a test) starts its split afresh (``reset``), so it covers each sample once whatever
was sampled before. The error is the classification error, the fraction of rows whose arg-max
is not the one-hot target's, whichever the loss (``cross_entropy`` or ``l2``).

One difference: epoch and test losses and errors are means over *samples*, where the course
averaged the per-batch means, which over-weights a smaller last batch.
"""

import copy

import numpy as np

from corenn.course.layers import initialize_layer
from corenn.course.losses import initialize_loss
from corenn.course.optimizers import initialize_optimizer
from corenn.errors import ConfigError
from corenn.files import save_arrays
from corenn.numpy_backend import NumpyBackend
from corenn.run.console import ConsoleReporter


def initialize_model(name, loss, layer_args, optimizer_args, logger=None, seed=None):
    """The course's model; ``name`` labels it (the course has one kind of model)."""
    return NeuralNetwork(loss=loss, layer_args=layer_args, optimizer_args=optimizer_args, logger=logger, seed=seed)


class NeuralNetwork:
    """Layers built from ``layer_args``; the last one's arguments make the output layer in
    ``train``, once the data set tells its ``n_out`` (so ``forward``, ``predict`` and ``test``
    come after ``train``). The model keeps copies of the arguments: the caller's are not changed.

    ``seed`` seeds numpy's global random state, from which the course's weights and batch
    orders are drawn.
    """

    def __init__(self, loss, layer_args, optimizer_args, logger=None, seed=None):
        if seed is not None:
            np.random.seed(seed)
        if not layer_args:
            raise ConfigError("layer_args must list at least the output layer's arguments")
        self.n_layers = len(layer_args)
        self.layer_args = [copy.copy(args) for args in layer_args]
        self.logger = logger
        self.epoch_log = {"loss": {}, "error": {}}
        self.loss = initialize_loss(loss)
        self.optimizer = initialize_optimizer(**optimizer_args)
        self.layers = [initialize_layer(**args) for args in layer_args[:-1]]

    def forward(self, X):
        self._require_output_layer("forward")
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def backward(self, target, out):
        """Backpropagate the loss of ``out`` against ``target``; returns the loss."""
        self._require_output_layer("backward")
        loss = self.loss.forward(target, out)
        dLdY = self.loss.backward(target, out)
        for layer in reversed(self.layers):
            dLdY = layer.backward(dLdY)
        return loss

    def update(self, epoch):
        """One optimizer step on every parameter, then every layer's gradients cleared."""
        param_log = {}
        for index, layer in enumerate(self.layers):
            for param_name, param in layer.parameters.items():
                delta = self.optimizer.update(param_name + str(index), param, layer.gradients[param_name], epoch)
                layer.parameters[param_name] -= delta
                if self.logger is not None:
                    param_log[f"{param_name}{index}"] = {"max": np.max(param), "min": np.min(param)}
            layer.clear_gradients()
        self.epoch_log["params"] = param_log

    def error(self, target, out):
        """The fraction of rows whose arg-max is not the target's: the classification error of
        one-hot targets, the same whichever the loss (an ``l2`` model is judged as a classifier
        too, as the course's data sets are all classifications)."""
        target = np.asarray(target)
        if target.ndim != 2 or not np.all((target == 0) | (target == 1)) or not np.all(target.sum(axis=1) == 1):
            raise ConfigError(
                "the course's error is a classification error: it needs one-hot targets (rows of 0s with a "
                f"single 1), got an array of shape {target.shape} that is not"
            )
        return 1.0 - NumpyBackend().count_correct(out, np.argmax(target, axis=1)) / len(target)

    def _require_output_layer(self, method):
        if len(self.layers) < self.n_layers:
            raise ConfigError(
                f"{method}: the output layer is made by train(dataset), which reads its n_out from the data set "
                "(dataset.out_dim): train first"
            )

    def _log(self, loss, error, validation=False):
        if self.logger is None:
            return
        split = "validate" if validation else "train"
        self.epoch_log["loss"][split] = round(float(loss), 4)
        self.epoch_log["error"][split] = round(float(error), 4)
        if validation:
            self.logger.push(self.epoch_log)
            self.epoch_log = {"loss": {}, "error": {}}

    def _add_output_layer(self, out_dim):
        if len(self.layers) == self.n_layers:  # made by an earlier call of train
            return
        args = self.layer_args[-1]
        args["n_out"] = out_dim
        self.layers.append(initialize_layer(**args))

    def train(self, dataset, epochs):
        """``epochs`` passes over ``dataset.train``, each followed by one over ``dataset.validate``."""
        _check_dataset(dataset, "train", ("train", "validate"))
        self._add_output_layer(dataset.out_dim)
        reporter = ConsoleReporter()
        try:
            for epoch in range(epochs):
                losses, errors, sizes = [], [], []
                dataset.train.reset()
                for _ in reporter.progress(range(dataset.train.samples_per_epoch), epoch + 1, epochs):
                    X, Y = dataset.train.sample()
                    Y_hat = self.forward(X)
                    losses.append(self.backward(Y, Y_hat))
                    errors.append(self.error(Y, Y_hat))
                    sizes.append(len(Y))
                    self.update(epoch)
                training_loss, training_error = np.average(losses, weights=sizes), np.average(errors, weights=sizes)
                self._log(training_loss, training_error)
                validation_loss, validation_error = self._evaluate(dataset.validate)
                self._log(validation_loss, validation_error, validation=True)
                print(
                    f"Epoch {epoch} Training Loss: {training_loss:.4f} Training Accuracy: {1 - training_error:.4f} "
                    f"Val Loss: {validation_loss:.4f} Val Accuracy: {1 - validation_error:.4f}",
                    flush=True,
                )
        finally:
            if hasattr(self.logger, "flush"):  # the course's own Logger has none, and needs none
                self.logger.flush()  # the history files, written every few seconds, brought level

    def _evaluate(self, part):
        """Loss and error over one whole pass of a data part (from its start), as sample means."""
        losses, errors, sizes = [], [], []
        part.reset()
        for _ in range(part.samples_per_epoch):
            X, Y = part.sample()
            Y_hat, loss = self.predict(X, Y)
            losses.append(loss)
            errors.append(self.error(Y, Y_hat))
            sizes.append(len(Y))
        return np.average(losses, weights=sizes), np.average(errors, weights=sizes)

    def test(self, dataset):
        """Loss and error on ``dataset.test``; printed, pushed to the logger and returned."""
        _check_dataset(dataset, "test", ("test",))
        self._require_output_layer("test")
        test_loss, test_error = self._evaluate(dataset.test)
        test_log = {"loss": {"test": round(float(test_loss), 4)}, "error": {"test": round(float(test_error), 4)}}
        if self.logger is not None:
            self.logger.push(test_log)
        print(f"Test Loss: {test_loss:.4f} Test Accuracy: {1 - test_error:.4f}", flush=True)
        return {"loss": float(test_loss), "error": float(test_error), "accuracy": 1.0 - float(test_error)}

    def predict(self, X, Y):
        """The outputs for ``X`` and their loss against ``Y``."""
        Y_hat = self.forward(X)
        return Y_hat, self.loss.forward(Y, Y_hat)

    def save_parameters(self, epoch):
        """Every layer's parameters as ``<save_dir>/parameters_epoch<epoch>.npz`` (``"<layer>.<name>"``
        keys; never a pickle)."""
        if self.logger is None or self.logger.save_dir is None:
            raise ConfigError("save_parameters needs a Logger made with save=True (it names the folder)")
        arrays = {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.parameters.items()
        }
        save_arrays(f"{self.logger.save_dir}parameters_epoch{epoch}.npz", arrays)


def _check_dataset(dataset, method, splits):
    """``dataset`` is a course data set with ``splits`` (each sampling mini-batches) and, for
    ``train``, an ``out_dim``: anything else is one clear error, not an AttributeError inside."""
    parts = [getattr(dataset, split, None) for split in splits]
    sampling = all(all(hasattr(part, name) for name in ("sample", "reset", "samples_per_epoch")) for part in parts)
    out_dim = getattr(dataset, "out_dim", None)
    if sampling and (method != "train" or (isinstance(out_dim, int | np.integer) and out_dim >= 1)):
        return
    shown = repr(dataset)
    shown = shown if len(shown) <= 60 else f"a {type(dataset).__name__}"
    needs = f"a {splits[0]} split" if len(splits) == 1 else f"{' and '.join(splits)} splits"
    needs += " and out_dim" if method == "train" else ""
    raise ConfigError(
        f"{method}: dataset must be a course data set, initialize_dataset(name, batch_size), with {needs}; got {shown}"
    )
