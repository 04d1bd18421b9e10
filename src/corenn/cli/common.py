"""Arguments and output helpers shared by several sub-commands (argparse only at import)."""

import json
import sys


def add_config_arguments(parser):
    """``--config`` / ``--preset`` and the overrides every training command takes."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="a TOML run config")
    source.add_argument("--preset", metavar="NAME", help="a bundled config (default: iris-ffnn)")
    parser.add_argument("--epochs", type=int, help="number of epochs")
    parser.add_argument("--batch-size", type=int, help="mini-batch size")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same run)")
    parser.add_argument("--backend", help="array backend of the components (numpy, torch)")
    parser.add_argument("--device", help="device for the torch backend: cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--dtype", choices=("float64", "float32"), help="floating-point precision")
    parser.add_argument(
        "--kernels",
        choices=("fast", "reference"),
        help="fast: each backend's fast kernels (default); reference: the kernels' references alone, the "
        "course's math, slower (the config's kernels key)",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="threads for the BLAS and torch while training (default: one per core)"
    )
    parser.add_argument(
        "--out", default="experiments", metavar="DIR", help="where run directories go (default: experiments)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")


POSITIVE_FLAGS = {"--epochs": "epochs", "--batch-size": "batch_size", "--threads": "threads"}


def check_positive_flags(args, flags=tuple(POSITIVE_FLAGS)):
    """A ConfigError naming the flag, as the user typed it, when one of ``flags`` is given and not positive."""
    from corenn.errors import ConfigError

    for flag in flags:
        value = getattr(args, POSITIVE_FLAGS[flag])
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be a positive integer, got {value}")


def load_run_config(args, **overrides):
    """The config named by ``--config`` / ``--preset`` with the command-line overrides applied."""
    from corenn.run.config import load_config, load_preset, with_overrides

    check_positive_flags(args)
    config = load_config(args.config) if args.config else load_preset(args.preset or "iris-ffnn")
    return with_overrides(
        config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        backend=args.backend,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        kernels=args.kernels,
        **overrides,
    )


def add_trained_run_arguments(parser):
    """What every command reading a trained run takes (``predict``, ``evaluate``): which
    parameters, where the data live, the device and the batch size of the forward passes."""
    parser.add_argument(
        "--which",
        choices=("last", "best"),
        help="the parameters to use: the last epoch's (parameters.npz) or the best validation epoch's (best.npz); "
        "default: those the run's own test used (best where it restored them, restore_best)",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)"
    )
    parser.add_argument(
        "--backend",
        help="the array backend to rebuild the model on (numpy, torch; default: the run's): a torch run predicts on "
        "numpy where torch is not installed",
    )
    parser.add_argument("--device", help="device for backends that have several (cpu, cuda, auto; default: the run's)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="samples per forward pass (default: 1024, fewer where a wide network's outputs would not fit in memory)",
    )


def print_json(value):
    print(json.dumps(value), flush=True)


def stderr(*parts):
    print(*parts, file=sys.stderr, flush=True)
