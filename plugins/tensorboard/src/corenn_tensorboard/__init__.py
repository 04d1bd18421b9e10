"""corenn-tensorboard: TensorBoard event files written from corenn's training hooks (see :mod:`corenn_tensorboard.plugin`)."""
