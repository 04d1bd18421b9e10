"""A two-layer network on Iris, written as the course's train_ffnn.py, running on corenn.

The course's script, with its import line changed from ``neural_networks`` to
``corenn.course``. Run it from any folder: its records go to ``experiments/`` there.
Environment variables (corenn's additions, for quick runs): ``CORENN_COURSE_EPOCHS``.
"""

import os

from corenn.course.datasets import initialize_dataset
from corenn.course.logs import Logger
from corenn.course.models import initialize_model
from corenn.course.utils import AttrDict

fc1 = AttrDict(
    {
        "name": "fully_connected",
        "activation": "relu",
        "weight_init": "xavier_uniform",
        "n_out": 10,
    }
)

fc_out = AttrDict(
    {
        "name": "fully_connected",
        "activation": "softmax",
        "n_out": None,  # set to the number of classes when training starts
        "weight_init": "xavier_uniform",
    }
)

layer_args = [fc1, fc_out]

optimizer_args = AttrDict(
    {
        "name": "SGD",
        "lr": 0.01,
        "lr_scheduler": "constant",
        "lr_decay": 0.99,
        "stage_length": 1000,
        "staircase": True,
        "clip_norm": 1.0,
        "momentum": 0.9,
    }
)

model_args = AttrDict(
    {
        "name": "feed_forward",
        "loss": "cross_entropy",
        "layer_args": layer_args,
        "optimizer_args": optimizer_args,
        "seed": 0,
    }
)

data_args = AttrDict({"name": "iris", "batch_size": 25})

epochs = int(os.environ.get("CORENN_COURSE_EPOCHS", 100))

dataset = initialize_dataset(name=data_args.name, batch_size=data_args.batch_size)

logger = Logger(model_name=model_args.name, model_args=model_args, data_args=data_args, save=True, plot=True)

model = initialize_model(
    name=model_args.name,
    loss=model_args.loss,
    layer_args=model_args.layer_args,
    optimizer_args=model_args.optimizer_args,
    logger=logger,
    seed=model_args.seed,
)

print(f"Training {model_args.name} neural network for {epochs} epochs")
model.train(dataset, epochs=epochs)
model.test(dataset)
