"""corenn's torch backend against a hand-written PyTorch loop: one CIFAR-10 epoch each.

Both train the same small CNN (conv 32@3x3 same relu, max-pool 2x2/2, conv 64@3x3 same relu,
max-pool 2x2/2, flatten, fc 128 relu, fc 10 softmax) from the same initial weights, over the
same standardised float32 images in the same shuffled order, with the same batch size and
Adam. corenn runs through its own Trainer (as ``corenn train --backend torch`` does: explicit
backward passes, corenn's optimizer, per-step loss read-back); the hand-written loop is the
usual ``zero_grad / forward / cross_entropy / backward / step`` with ``torch.nn`` modules on
NCHW tensors and autograd. The ratio corenn / torch is the framework's overhead (target: at
most 1.05). Each side first runs a few warm-up batches, not timed::

    python bench/torch_overhead.py                 # the whole epoch (50,000 images)
    python bench/torch_overhead.py --limit 5000    # the first 5,000 images of the order
    python bench/torch_overhead.py --device cuda --json

Data come from ``--data-dir`` or ``CORENN_DATA_DIR`` (torchvision's layout, see corenn.data).
"""

import argparse
import json
import time

WARMUP_BATCHES = 3


def network_config(batch_size, device, lr):
    return {
        "name": "torch-overhead",
        "seed": 0,
        "epochs": 1,
        "dtype": "float32",
        "backend": "torch",
        "device": device,
        "dataset": {"name": "cifar10", "batch_size": batch_size},
        "optimizer": {"name": "adam", "lr": lr},
        "layers": [
            {"name": "conv2d", "n_out": 32, "kernel_shape": 3, "activation": "relu"},
            {"name": "pool2d", "kernel_shape": 2, "stride": 2},
            {"name": "conv2d", "n_out": 64, "kernel_shape": 3, "activation": "relu"},
            {"name": "pool2d", "kernel_shape": 2, "stride": 2},
            {"name": "flatten"},
            {"name": "fully_connected", "n_out": 128, "activation": "relu"},
            {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
        ],
    }


def synchronize(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_network(corenn_model):
    """``torch.nn`` modules computing the same function as the corenn model, with its weights.

    corenn's conv weights are (kh, kw, c_in, c_out) on NHWC images and its flatten keeps
    (h, w, c) order; torch's are (c_out, c_in, kh, kw) on NCHW images, flattened (c, h, w).
    """
    import torch
    from torch import nn

    conv1, conv2, dense1, dense2 = (corenn_model.layers[i].parameters for i in (0, 2, 5, 6))
    network = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
    ).to(conv1["W"].device)
    with torch.no_grad():
        for module, table in ((network[0], conv1), (network[3], conv2)):
            module.weight.copy_(table["W"].permute(3, 2, 0, 1))
            module.bias.copy_(table["b"].reshape(-1))
        W = dense1["W"].reshape(8, 8, 64, 128).permute(3, 2, 0, 1).reshape(128, -1)
        network[7].weight.copy_(W)
        network[7].bias.copy_(dense1["b"].reshape(-1))
        network[9].weight.copy_(dense2["W"].T)
        network[9].bias.copy_(dense2["b"].reshape(-1))
    return network


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="train on the first N images of the epoch's order only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--data-dir", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from corenn.config import config_from_dict
    from corenn.trainer import EpochProgress, Trainer, TrainingRun
    from corenn.training import build_with_arrays

    config = config_from_dict(network_config(args.batch_size, args.device, args.lr))
    data, model, loss, optimizer, scheduler, arrays = build_with_arrays(config, data_dir=args.data_dir)
    device = arrays.device
    order = np.random.default_rng([0, 0x5EED]).permutation(len(data.train))
    if args.limit:
        order = order[: args.limit]
    network = torch_network(model)  # same weights, taken before either side trains
    torch_optimizer = torch.optim.Adam(network.parameters(), lr=args.lr, eps=optimizer.epsilon)

    # corenn: its Trainer, over the shared order.
    trainer = Trainer(TrainingRun(config=config, model=model, run_dir=None, epochs=1), data, loss, optimizer, scheduler,
                      batch_size=args.batch_size, shuffle_rng=None, arrays=arrays)
    trainer.epoch_progress = EpochProgress(order[: WARMUP_BATCHES * args.batch_size])
    trainer.train_epoch(1)
    synchronize(device)
    trainer.epoch_progress = EpochProgress(order)
    started = time.perf_counter()
    corenn_metrics = trainer.train_epoch(1)
    synchronize(device)
    corenn_seconds = time.perf_counter() - started

    # The hand-written loop: NCHW tensors on the device, autograd, torch.optim.
    X = torch.as_tensor(data.train.X, device=device).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(data.train.labels, device=device).long()

    def torch_epoch(indices):
        loss_sum, correct = 0.0, 0
        for start in range(0, len(indices), args.batch_size):
            index = indices[start : start + args.batch_size]
            logits = network(X[index])
            batch_loss = F.cross_entropy(logits, labels[index])
            torch_optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            torch_optimizer.step()
            loss_sum += batch_loss.item() * len(index)
            correct += (logits.argmax(1) == labels[index]).sum()
        return loss_sum / len(indices), int(correct) / len(indices)

    device_order = torch.as_tensor(order, device=device)
    torch_epoch(device_order[: WARMUP_BATCHES * args.batch_size])
    synchronize(device)
    started = time.perf_counter()
    torch_loss, torch_accuracy = torch_epoch(device_order)
    synchronize(device)
    torch_seconds = time.perf_counter() - started

    figures = {
        "device": str(device),
        "images": len(order),
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "corenn_seconds": corenn_seconds,
        "torch_seconds": torch_seconds,
        "ratio": corenn_seconds / torch_seconds,
        "corenn_train_loss": corenn_metrics["train_loss"],
        "torch_train_loss": torch_loss,
        "corenn_train_accuracy": corenn_metrics["train_accuracy"],
        "torch_train_accuracy": torch_accuracy,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['images']} CIFAR-10 images, batch {args.batch_size}, float32, on {device} ({figures['threads']} threads)")
        print(f"corenn (torch backend)  {corenn_seconds:8.2f} s   train loss {corenn_metrics['train_loss']:.4f}")
        print(f"hand-written PyTorch    {torch_seconds:8.2f} s   train loss {torch_loss:.4f}")
        print(f"overhead ratio          {figures['ratio']:8.3f}   (target <= 1.05)")
    return figures


if __name__ == "__main__":
    main()
