"""LeNet on MNIST, written as the course's train_conv.py, running on corenn.

The course's script, with its import line changed from ``neural_networks`` to
``corenn.course``. MNIST is read from the data root (``CORENN_DATA_DIR``, see
``corenn.data.download``). Run it from any folder: its records go to ``experiments/`` there.
Environment variables (corenn's additions, to fit a time budget): ``CORENN_COURSE_EPOCHS``
and ``CORENN_COURSE_MAX_SAMPLES`` (the first that many images of each split).
"""

import os

from corenn.course.datasets import initialize_dataset
from corenn.course.logs import Logger
from corenn.course.models import initialize_model
from corenn.course.utils import AttrDict

conv1 = AttrDict(
    {
        "name": "conv2d",
        "activation": "relu",
        "weight_init": "xavier_uniform",
        "n_out": 6,
        "kernel_shape": (5, 5),
        "stride": 1,
        "pad": "same",
    }
)

pool1 = AttrDict({"name": "pool2d", "kernel_shape": (2, 2), "mode": "max", "stride": 2, "pad": 0})

conv2 = AttrDict(
    {
        "name": "conv2d",
        "activation": "relu",
        "weight_init": "xavier_uniform",
        "n_out": 16,
        "kernel_shape": (5, 5),
        "stride": 1,
        "pad": "valid",
    }
)

pool2 = AttrDict({"name": "pool2d", "kernel_shape": (2, 2), "mode": "max", "stride": 2, "pad": 0})

flatten = AttrDict({"name": "flatten", "keep_dim": "first"})

fc1 = AttrDict({"name": "fully_connected", "activation": "relu", "weight_init": "xavier_uniform", "n_out": 120})

fc2 = AttrDict({"name": "fully_connected", "activation": "relu", "weight_init": "xavier_uniform", "n_out": 84})

fc_out = AttrDict(
    {
        "name": "fully_connected",
        "activation": "softmax",
        "n_out": None,  # set to the number of classes when training starts
        "weight_init": "xavier_uniform",
    }
)

layer_args = [conv1, pool1, conv2, pool2, flatten, fc1, fc2, fc_out]

optimizer_args = AttrDict(
    {
        "name": "SGD",
        "lr": 0.05,
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
        "name": "lenet",
        "loss": "cross_entropy",
        "layer_args": layer_args,
        "optimizer_args": optimizer_args,
        "seed": 0,
    }
)

data_args = AttrDict({"name": "mnist", "batch_size": 64})

epochs = int(os.environ.get("CORENN_COURSE_EPOCHS", 2))
max_samples = os.environ.get("CORENN_COURSE_MAX_SAMPLES")

dataset = initialize_dataset(
    name=data_args.name, batch_size=data_args.batch_size, max_samples=int(max_samples) if max_samples else None
)

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
