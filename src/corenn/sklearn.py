"""scikit-learn estimators over corenn's networks: :class:`NeuralNetClassifier` and
:class:`NeuralNetRegressor` (``pip install ".[sklearn]"``).

    from corenn.sklearn import NeuralNetClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    search = GridSearchCV(NeuralNetClassifier(epochs=50), {"lr": [0.01, 0.001]}, cv=3)
    search.fit(X, y).best_params_
    make_pipeline(StandardScaler(), NeuralNetClassifier()).fit(X, y).score(X_test, y_test)

The constructor's parameters are the network and its training (a fully connected network of
``hidden_layer_sizes`` units with ``activation``, or ``layers``: corenn layer tables for the
hidden part; the ``optimizer`` and its ``lr``, ``epochs``, ``batch_size``, ``val_size``,
``patience``, ``random_state``, ``backend``, ``dtype``); ``fit`` trains one corenn run on the
arrays (:func:`corenn.train` with ``X=`` and ``y=``, nothing written to disk) and keeps its
model (``model_``, a :class:`corenn.trained.load.TrainedModel`) and result (``result_``). The
output layer is added to fit the data: a softmax over the classes with cross-entropy for the
classifier, one linear output per target with ``l2`` for the regressor, whose targets corenn
standardises while training and predicts in their own units. ``fit`` checks the parameters
(``hidden_layer_sizes``: a positive integer or a tuple of them, ``()`` for none; ``layers``: a
list of layer tables) and hands numpy numbers (a grid over ``np.arange``) to the run as Python's;
a ``fit`` that fails leaves the estimator as it was, a fitted one with its model and what it was
fitted on.

They follow scikit-learn's conventions (``get_params`` / ``set_params``, ``classes_``,
``n_features_in_``, ``feature_names_in_``, ``ValueError`` for bad input, ``NotFittedError``
before ``fit``, pickling) and pass scikit-learn's own ``check_estimator`` (see
``tests/test_sklearn_estimators.py``). The model is modelled on skorch's ``NeuralNet``, which does
this for PyTorch modules.
"""

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # the optional extra is not installed
    raise ImportError(
        'corenn.sklearn needs scikit-learn 1.6 or later: pip install "scikit-learn>=1.6" '
        '(or, in corenn\'s checkout, pip install ".[sklearn]")'
    ) from exc

import contextlib

import numpy as np

from corenn.errors import CorennError
from corenn.run.config import is_positive_integer, plain_values

SEED_LIMIT = 2**31 - 1


class _NeuralNet(BaseEstimator):
    """What the classifier and the regressor share: the parameters, the run's config, fitting."""

    _loss = None  # the run's loss and last activation, set by each estimator
    _output_activation = None
    _task = None

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        activation="relu",
        layers=None,
        optimizer="adam",
        lr=0.01,
        epochs=100,
        batch_size=32,
        val_size=0.0,
        patience=None,
        random_state=None,
        backend="numpy",
        dtype="float64",
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.layers = layers
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.val_size = val_size
        self.patience = patience
        self.random_state = random_state
        self.backend = backend
        self.dtype = dtype
        self.verbose = verbose

    def _hidden_layers(self):
        """The hidden layers' tables, from ``layers`` or else ``hidden_layer_sizes``, each checked
        here (a string of digits would otherwise be taken for a list of sizes, a float truncated)."""
        if self.layers is not None:
            return [dict(layer) for layer in _checked_layer_tables(self.layers)]
        sizes = _checked_hidden_layer_sizes(self.hidden_layer_sizes)
        return [{"name": "fully_connected", "n_out": size, "activation": self.activation} for size in sizes]

    def run_config(self, seed=0):
        """The corenn run config that ``fit`` trains (a dict, as a TOML config would parse)."""
        config = {
            "name": type(self).__name__,
            "seed": seed,
            "epochs": self.epochs,
            "dtype": self.dtype,
            "backend": self.backend,
            "loss": self._loss,
            "optimizer": {"name": self.optimizer, "lr": self.lr},
            "dataset": {
                "name": "arrays",
                "batch_size": self.batch_size,
                "task": self._task,
                "val_size": self.val_size,
                "test_size": 0,
            },
            "layers": [
                *self._hidden_layers(),
                {"name": "fully_connected", "n_out": "auto", "activation": self._output_activation},
            ],
        }
        if self.patience is not None:
            config["patience"] = self.patience
        return plain_values(config)  # numpy numbers (a grid over np.arange) as Python's

    def _train(self, X, y):
        """The run's result (its ``model`` included) of training on ``X`` and ``y``; sets nothing."""
        from corenn.trained.from_arrays import train

        if self.patience is not None and not self.val_size:
            raise ValueError(
                f"patience = {self.patience!r} stops training when the validation score stops improving: "
                "it needs a validation split (val_size > 0)"
            )

        seed = int(check_random_state(self.random_state).randint(SEED_LIMIT))
        with _as_value_error():
            return train(self.run_config(seed), X=X, y=y, verbose=bool(self.verbose))

    def _keep(self, result, **fitted):
        """Set the fitted attributes, all of them at once, once training succeeded."""
        self.model_ = result.pop("model")
        self.result_ = result
        self.n_iter_ = result["epochs"]
        for name, value in fitted.items():
            setattr(self, name, value)

    @contextlib.contextmanager
    def _unchanged_on_failure(self):
        """A ``fit`` that fails (bad parameters, bad data, an interrupt) leaves the estimator as it
        was: a fitted one keeps its model with the classes, features and target shape it was
        fitted on (scikit-learn's ``validate_data`` sets ``n_features_in_`` before training)."""
        parameters = self.get_params(deep=False)
        before = {name: value for name, value in vars(self).items() if name not in parameters}
        try:
            yield
        except BaseException:
            for name in [name for name in vars(self) if name not in parameters]:
                delattr(self, name)
            vars(self).update(before)
            raise

    def _outputs(self, X):
        """``X`` checked as scikit-learn checks inputs to a fitted estimator."""
        check_is_fitted(self, "model_")
        return validate_data(self, X, reset=False, dtype=np.float64)


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A corenn network classifying the rows of ``X`` into the classes of ``y`` (any labels:
    numbers or text); see the module's docstring for the parameters.

    Attributes after ``fit``: ``classes_``, ``n_features_in_`` (and ``feature_names_in_`` for a
    DataFrame), ``model_`` (the trained model), ``result_`` (the run's result: its losses and
    accuracies per split) and ``n_iter_`` (the epochs trained)."""

    _loss = "cross_entropy"
    _output_activation = "softmax"
    _task = "classification"

    def fit(self, X, y):
        with self._unchanged_on_failure():
            X, y = validate_data(self, X, y, dtype=np.float64)
            check_classification_targets(y)
            classes, indices = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes; y holds one class ({classes[0]!r})"
                )
            self._keep(self._train(X, indices.astype(np.int64)), classes_=classes)
        return self

    def predict_proba(self, X):
        """Each class's probability for every row of ``X``, columns in ``classes_``'s order."""
        X = self._outputs(X)
        with _as_value_error():
            return self.model_.predict_proba(X)

    def predict(self, X):
        """The most probable class of every row of ``X``."""
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A corenn network predicting ``y`` (one target, ``(samples,)``, or several,
    ``(samples, targets)``) from the rows of ``X``; see the module's docstring for the
    parameters.

    Attributes after ``fit``: ``n_features_in_`` (and ``feature_names_in_``), ``model_``,
    ``result_`` (its losses and its MSE, MAE and R^2 per split) and ``n_iter_``."""

    _loss = "l2"
    _output_activation = "linear"
    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        with self._unchanged_on_failure():
            X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
            y = np.asarray(y, dtype=np.float64)
            self._keep(self._train(X, y), _targets_1d=y.ndim == 1)
        return self

    def predict(self, X):
        """The predicted values for the rows of ``X``, shaped as the ``y`` it was fitted on."""
        X = self._outputs(X)
        with _as_value_error():
            values = np.asarray(self.model_.predict(X), dtype=np.float64)
        if self._targets_1d:
            return values.reshape(len(X))
        return values.reshape(len(X), -1)


def _checked_hidden_layer_sizes(sizes):
    """``hidden_layer_sizes`` as a list of ints: one positive integer (one hidden layer), or a
    tuple, list or array of them (``()``: no hidden layer)."""
    if is_positive_integer(sizes):
        return [int(sizes)]
    is_sequence = isinstance(sizes, (tuple, list)) or (isinstance(sizes, np.ndarray) and sizes.ndim == 1)
    if is_sequence and all(is_positive_integer(size) for size in sizes):
        return [int(size) for size in sizes]
    raise ValueError(
        "hidden_layer_sizes must be a positive integer or a tuple of positive integers (the units of each "
        f"hidden layer; () for none), got {sizes!r}"
    )


def _checked_layer_tables(layers):
    """``layers`` as given, once it is a list (or tuple) of layer tables (dicts)."""
    if not isinstance(layers, (list, tuple)):
        raise ValueError(
            "layers must be a list of corenn layer tables (dicts such as "
            f"{{'name': 'fully_connected', 'n_out': 32, 'activation': 'relu'}}), got {layers!r}"
        )
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ValueError(
                f"layers[{index}] must be a corenn layer table (a dict of the layer's name and options, such as "
                f"{{'name': 'fully_connected', 'n_out': 32, 'activation': 'relu'}}), got {layer!r}"
            )
    return layers


@contextlib.contextmanager
def _as_value_error():
    """corenn's errors of bad input or parameters (a value too large to standardise, say) as the
    ``ValueError`` that scikit-learn's conventions and its callers (``error_score``) expect."""
    try:
        yield
    except CorennError as exc:
        raise ValueError(str(exc)) from exc
