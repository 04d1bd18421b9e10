"""corenn's torch backend against a hand-written PyTorch loop: one CIFAR-10 epoch each.

Both train the ``cifar10-cnn`` preset's network (or another preset's, ``--preset``) from the
same initial weights, over the same standardised float32 images in the same shuffled order,
with the same batch size, augmentation (reflect-padded crops, flips), loss, optimizer
(Nesterov SGD, the batch-norm shifts' 64x rate) and learning-rate schedule. corenn runs
through its own Trainer, as ``corenn train`` does (explicit backward passes, corenn's
optimizer, the loss read back every step). The hand-written loop is the usual
``zero_grad / forward / cross_entropy / backward / step`` with ``torch.nn`` modules on NCHW
tensors in channels-last memory, autograd and ``torch.optim.SGD`` parameter groups.

The epoch is cut into chunks of ``--chunk`` batches and the two sides take turns, chunk by
chunk, each timing its own: a slow spell of the machine then lands on both, not on one. The
ratio corenn / torch is the framework's overhead (target: at most 1.05). Each side first runs
a few warm-up batches, not timed::

    python bench/torch_overhead.py                 # the whole epoch (50,000 images)
    python bench/torch_overhead.py --limit 10000   # the first 10,000 images of the order
    python bench/torch_overhead.py --device cuda --json

Data come from ``--data-dir`` or ``CORENN_DATA_DIR`` (torchvision's layout, see corenn.data).
"""

import argparse
import json
import time

WARMUP_BATCHES = 2


def synchronize(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_mirror(model):
    """``torch.nn`` modules computing the same function as a corenn model, with its weights.

    corenn works on NHWC batches with weights ``(kh, kw, c_in, c_out)`` and flattens in
    ``(h, w, c)`` order; the mirror works on NCHW with torch's ``(c_out, c_in, kh, kw)`` and
    permutes back to NHWC before a flatten. The final softmax is left out: ``cross_entropy``
    takes logits. Returns the network and its batch-norm shifts (for their learning rate).
    """
    import torch
    from torch import nn

    activations = {
        "linear": nn.Identity,
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": lambda: nn.GELU(approximate="tanh"),
        "softmax": nn.Identity,
    }

    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, X):
            return X * self.factor

    class ToNHWC(nn.Module):
        def forward(self, X):
            return X.permute(0, 2, 3, 1)

    def conv(W, b, stride=1, padding=0, trainable_weight=True):
        kh, kw, c_in, c_out = W.shape
        module = nn.Conv2d(c_in, c_out, (kh, kw), stride=stride, padding=padding)
        with torch.no_grad():
            module.weight.copy_(W.permute(3, 2, 0, 1))
            module.bias.copy_(b.reshape(-1))
        module.weight.requires_grad_(trainable_weight)
        return module

    def padding_of(layer):
        kh, kw = layer.kernel_shape
        if layer.pad == "same" and tuple(layer.stride) == (1, 1) and kh % 2 and kw % 2:
            return (kh // 2, kw // 2)
        if layer.pad in ("valid", 0) or layer.pad == (0, 0, 0, 0):
            return 0
        if isinstance(layer.pad, int):
            return layer.pad
        if isinstance(layer.pad, tuple) and len(set(layer.pad)) == 1:  # (top, bottom, left, right)
            return layer.pad[0]
        raise SystemExit(f"the mirror does not translate {layer.name} pad={layer.pad!r}")

    modules, shifts, image = [], [], True
    for layer in model.layers:
        name = layer.name
        if name == "patch_whitening":
            modules.append(conv(layer.buffers["W"], layer.parameters["b"], trainable_weight=False))
        elif name == "conv2d":
            P = layer.parameters
            modules.append(conv(P["W"], P["b"], stride=tuple(layer.stride), padding=padding_of(layer)))
        elif name == "pool2d":
            pool = nn.MaxPool2d if layer.mode == "max" else nn.AvgPool2d
            modules.append(pool(tuple(layer.kernel_shape), stride=tuple(layer.stride), padding=padding_of(layer)))
        elif name == "batch_norm":
            channels = layer.parameters["b"].shape[1]
            norm = (nn.BatchNorm2d if image else nn.BatchNorm1d)(channels, eps=layer.epsilon, momentum=layer.momentum)
            with torch.no_grad():
                norm.bias.copy_(layer.parameters["b"].reshape(-1))
                if layer.scale:
                    norm.weight.copy_(layer.parameters["W"].reshape(-1))
            norm.weight.requires_grad_(layer.scale)
            modules.append(norm)
            shifts.append(norm.bias)
        elif name == "flatten":
            modules += [ToNHWC(), nn.Flatten()]
            image = False
        elif name == "fully_connected":
            W, b = layer.parameters["W"], layer.parameters["b"]
            linear = nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(W.T)
                linear.bias.copy_(b.reshape(-1))
            modules.append(linear)
        elif name == "scale":
            modules.append(Scale(layer.factor))
        else:
            raise SystemExit(f"the mirror does not translate layer {name!r}")
        if getattr(layer, "activation", None) is not None:
            modules.append(activations[layer.activation.name]())
    device = next(iter(model.named_parameters().values())).device
    network = nn.Sequential(*modules).to(device=device, memory_format=torch.channels_last)
    return network, shifts


def augmenter(augment, seed):
    """The trainer's crop-and-flip as a function of an NCHW batch (same options, own draws)."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    padding = augment.get("crop_padding", 0)
    mode = "reflect" if augment.get("padding_mode") == "reflect" else "constant"

    def crop_and_flip(X, epoch, index):
        m, c, height, width = X.shape
        if augment.get("flip"):
            if augment["flip"] == "alternate":
                mirrored = ((index * 0x9E3779B1) >> 16) % 2 == epoch % 2
            else:
                mirrored = (torch.rand(m, generator=generator) < 0.5).to(X.device)
            X = torch.where(mirrored.view(-1, 1, 1, 1), X.flip(3), X)
        if padding:
            X = F.pad(X, (padding,) * 4, mode=mode)
            offsets = torch.randint(0, 2 * padding + 1, (2, m), generator=generator).to(X.device)
            rows = (offsets[0][:, None] + torch.arange(height, device=X.device))[:, None, :, None]
            X = X.gather(2, rows.expand(-1, c, -1, X.shape[3]))
            cols = (offsets[1][:, None] + torch.arange(width, device=X.device))[:, None, None, :]
            X = X.gather(3, cols.expand(-1, c, height, -1))
        return X.contiguous(memory_format=torch.channels_last)

    return crop_and_flip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", default="cifar10-cnn", help="the network and training options (default cifar10-cnn)"
    )
    parser.add_argument("--limit", type=int, help="train on the first N images of the epoch's order only")
    parser.add_argument("--chunk", type=int, default=10, help="batches per turn (default 10)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--data-dir", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from corenn.run.build import build_with_arrays
    from corenn.run.config import load_preset, with_overrides
    from corenn.run.loop import EpochProgress, Trainer, TrainingRun

    config = with_overrides(load_preset(args.preset), backend="torch", device=args.device, epochs=1)
    data, model, loss, optimizer, scheduler, arrays = build_with_arrays(config, data_dir=args.data_dir)
    device = arrays.device
    batch_size = config.dataset.batch_size
    order = np.random.default_rng([0, 0x5EED]).permutation(len(data.train))
    if args.limit:
        order = order[: args.limit]
    first_batch = arrays.to_device(data.train.X[order[:batch_size]])
    model.fit_to_data(first_batch)
    network, shifts = torch_mirror(model)  # same weights, taken before either side trains

    scales = model.named_lr_scales()
    shift_scale = max(scales.values(), default=1.0)
    shift_ids = {id(p) for p in shifts}
    others = [p for p in network.parameters() if p.requires_grad and id(p) not in shift_ids]
    opt = config.optimizer.options
    weight_decay = opt.get("weight_decay", 0.0)
    groups = [dict(params=others, weight_decay=weight_decay, lr_scale=1.0)]
    if shifts:
        groups.append(dict(params=shifts, weight_decay=weight_decay / shift_scale, lr_scale=shift_scale))
    torch_optimizer = torch.optim.SGD(
        groups, lr=opt["lr"], momentum=opt.get("momentum", 0.0), nesterov=opt.get("nesterov", False)
    )
    label_smoothing = config.loss.options.get("label_smoothing", 0.0)
    augment = augmenter(config.dataset.augment, seed=config.seed)

    trainer = Trainer(
        TrainingRun(config=config, model=model, run_dir=None, epochs=1),
        data,
        loss,
        optimizer,
        scheduler,
        batch_size=batch_size,
        shuffle_rng=None,
        arrays=arrays,
        augment=config.dataset.augment,
        augment_rng=np.random.default_rng([config.seed, 1]),
    )
    X = torch.as_tensor(data.train.X, device=device).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    labels = torch.as_tensor(data.train.labels, device=device).long()
    device_order = torch.as_tensor(order, device=device)
    torch_step = 0

    def corenn_chunk(indices):
        trainer.epoch_progress = EpochProgress(indices)
        metrics = trainer.train_epoch(1)
        return metrics["train_loss"] * len(indices)

    def torch_chunk(indices):
        nonlocal torch_step
        network.train()
        loss_sum = 0.0
        for start in range(0, len(indices), batch_size):
            index = indices[start : start + batch_size]
            lr = scheduler(torch_step)
            for group in torch_optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            logits = network(augment(X[index], 1, index))
            batch_loss = F.cross_entropy(logits, labels[index], label_smoothing=label_smoothing)
            torch_optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            torch_optimizer.step()
            loss_sum += batch_loss.item() * len(index)
            torch_step += 1
        return loss_sum

    warmup = WARMUP_BATCHES * batch_size
    corenn_chunk(order[:warmup])
    torch_chunk(device_order[:warmup])
    trainer.run.step = torch_step = 0
    seconds = {"corenn": 0.0, "torch": 0.0}
    losses = {"corenn": 0.0, "torch": 0.0}
    step = args.chunk * batch_size
    for start in range(0, len(order), step):
        for side, run_chunk, indices in (
            ("corenn", corenn_chunk, order[start : start + step]),
            ("torch", torch_chunk, device_order[start : start + step]),
        ):
            synchronize(device)
            started = time.perf_counter()
            losses[side] += run_chunk(indices)
            synchronize(device)
            seconds[side] += time.perf_counter() - started

    figures = {
        "preset": args.preset,
        "device": str(device),
        "images": len(order),
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "corenn_seconds": seconds["corenn"],
        "torch_seconds": seconds["torch"],
        "ratio": seconds["corenn"] / seconds["torch"],
        "corenn_train_loss": losses["corenn"] / len(order),
        "torch_train_loss": losses["torch"] / len(order),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['images']} CIFAR-10 images, preset {args.preset}, batch {batch_size}, float32, "
            f"on {device} ({figures['threads']} threads), turns of {args.chunk} batches"
        )
        print(f"corenn (torch backend)  {seconds['corenn']:8.2f} s   train loss {figures['corenn_train_loss']:.4f}")
        print(f"hand-written PyTorch    {seconds['torch']:8.2f} s   train loss {figures['torch_train_loss']:.4f}")
        print(f"overhead ratio          {figures['ratio']:8.3f}   (target <= 1.05)")
    return figures


if __name__ == "__main__":
    main()
