"""The trainer's memory estimate (:mod:`corenn.run.resources`) against the memory a training step
and an evaluation really take, on numpy.

For each case (a preset's network, or iris's with a wide hidden layer, at a batch size) this
builds the network from the preset's layers and optimizer, in its dtype, runs three training
steps on random inputs (forward, loss, backward, an update of every parameter, as the trainer
does) and then one evaluation forward of 1,024 samples, each under ``tracemalloc`` (numpy
reports its arrays to it), and prints the peak memory above what was allocated before, beside
the estimate and their ratio. The estimate counts the parameters' state (3 copies) and
``TRAINING_COPIES`` times every layer's output for the batch; a ratio of measured to estimate
above 1 means the estimate is low there (what it refuses could not have fit), below 1 that it
is high (it could refuse a run that would fit)::

    python bench/memory_estimate.py
    python bench/memory_estimate.py --json

No data set is read: inputs are random, of the preset's input shape.
"""

import argparse
import json
import tracemalloc

import numpy as np

import corenn
from corenn.nn.model import Sequential
from corenn.run.config import config_from_dict, load_preset
from corenn.run.resources import EVALUATION_COPIES, training_memory_need

INPUT_SHAPES = {"iris-ffnn": (4,), "fmnist-mlp": (28, 28, 1), "lenet-mnist": (28, 28, 1), "flatten-25": (32, 32, 3)}
N_CLASSES = {"iris-ffnn": 3, "fmnist-mlp": 10, "lenet-mnist": 10, "flatten-25": 10}
FLATTEN_STACK = 25  # "flatten-25": 25 flatten layers, then a softmax layer (issue 22's hole 11: views)
# (preset, hidden width of the first layer or None for the preset's own, batch size)
CASES = (
    ("iris-ffnn", 2**18, 25),
    ("iris-ffnn", 2**18, 100),
    ("fmnist-mlp", None, 64),
    ("fmnist-mlp", None, 256),
    ("lenet-mnist", None, 32),
    ("lenet-mnist", None, 256),
    ("flatten-25", None, 2800),
)
STEPS = 3
EVALUATION_SAMPLES = 1024
MiB = 2**20


def build(preset, width):
    if preset == "flatten-25":
        data = load_preset("fmnist-mlp").to_dict()
        data["layers"] = [{"name": "flatten"}] * FLATTEN_STACK + [
            {"name": "fully_connected", "n_out": "auto", "activation": "softmax"}
        ]
        config = config_from_dict(data)
    else:
        config = load_preset(preset)
    layers = config.layers
    if width is not None:
        layers = [type(layers[0])(layers[0].name, {**layers[0].options, "n_out": width}), *layers[1:]]
    model = Sequential.from_config(layers, n_classes=N_CLASSES[preset], seed=0)
    model.skip_input_gradient()
    model.initialize(INPUT_SHAPES[preset], config.dtype)
    loss = corenn.create("loss", config.loss.name, **config.loss.options)
    optimizer = corenn.create("optimizer", config.optimizer.name, **config.optimizer.options)
    return config, model, loss, optimizer


def peak_above_start(work):
    """Bytes ``work()`` allocated at its peak beyond what was allocated when it started."""
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - start


def measure(preset, width, batch_size):
    config, model, loss, optimizer = build(preset, width)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch_size, *INPUT_SHAPES[preset])).astype(config.dtype)
    Y = np.eye(N_CLASSES[preset], dtype=config.dtype)[rng.integers(0, N_CLASSES[preset], batch_size)]

    def train_steps():
        for _ in range(STEPS):
            Y_hat = model.forward(X)
            loss.forward(Y, Y_hat)
            model.backward(loss.backward(Y, Y_hat))
            gradients = model.named_gradients()
            for name, param in model.named_parameters().items():
                optimizer.update(name, param, gradients[name])

    training = peak_above_start(train_steps)
    X_eval = rng.standard_normal((EVALUATION_SAMPLES, *INPUT_SHAPES[preset])).astype(config.dtype)
    model.eval()
    evaluation = peak_above_start(lambda: model.forward(X_eval))
    outputs, parameter_state = training_memory_need(model, batch_size)
    evaluation_estimate = EVALUATION_COPIES * EVALUATION_SAMPLES * sum(model.output_bytes_per_sample)
    return {
        "case": f"{preset}{f' ({width} hidden)' if width else ''} batch {batch_size}",
        "training_MiB": training / MiB,
        "training_estimate_MiB": (outputs + parameter_state) / MiB,
        "training_ratio": training / (outputs + parameter_state),
        "evaluation_MiB": evaluation / MiB,
        "evaluation_estimate_MiB": evaluation_estimate / MiB,
        "evaluation_ratio": evaluation / evaluation_estimate,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object per case")
    args = parser.parse_args()
    if not args.json:
        print(
            f"{'case':<40} {'train MiB':>10} {'estimate':>9} {'ratio':>6}   {'eval MiB':>9} {'estimate':>9} {'ratio':>6}"
        )
    for preset, width, batch_size in CASES:
        row = measure(preset, width, batch_size)
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['case']:<40} {row['training_MiB']:>10.1f} {row['training_estimate_MiB']:>9.1f} "
                f"{row['training_ratio']:>6.2f}   {row['evaluation_MiB']:>9.1f} {row['evaluation_estimate_MiB']:>9.1f} "
                f"{row['evaluation_ratio']:>6.2f}"
            )


if __name__ == "__main__":
    main()
