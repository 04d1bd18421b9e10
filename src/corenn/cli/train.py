"""``corenn train``: train a preset or a config file and report its test accuracy."""

import argparse
import time

HELP = "train a network (default: the iris-ffnn preset, offline, in seconds)"
OTHER_RANKS_WAIT_SECONDS = 10  # see run(): at most this long, for rank 0 to say what is wrong


def add_arguments(parser):
    from corenn.cli.common import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--lr", type=float, help="the optimizer's learning rate")
    parser.add_argument(
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        help="bfloat16 convolutions and matrix products, float32 everything else (torch backend, "
        "float32, meant for GPUs); the config's mixed_precision key",
    )
    parser.add_argument("--name", help="run name, and the name of its directory under --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run directory of the same name")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train data-parallel on N processes of this machine (starts torchrun; needs corenn-torch); "
        "the global batch stays --batch-size",
    )
    parser.add_argument(
        "--master-port", type=int, metavar="PORT", help="with --nproc: rank 0's port on 127.0.0.1 (default: a free one)"
    )


def run(args):
    from corenn.errors import ConfigError, CorennError, Terminated
    from corenn.run.distributed import launch_from_environment, launched_by_corenn

    if args.nproc is not None:
        from corenn.run.launcher import launch_on_this_machine

        return launch_on_this_machine(args.argv, args.nproc, args.master_port, config=_launch_config(args))
    if args.master_port is not None:
        raise ConfigError("--master-port goes with --nproc (under torchrun, give torchrun --master-port)")
    launch = launch_from_environment()
    try:
        return _run(args, launch)
    except CorennError as exc:
        if launch.distributed and launched_by_corenn():
            from corenn.cli import one_line, saved_note
            from corenn.run.distributed import report_to_launcher

            if report_to_launcher(f"corenn train: error: {one_line(str(exc))}{saved_note(exc)}"):
                return 1  # the launcher says it, once for all the ranks that met it
        if launch.is_main or not isinstance(exc, ConfigError):
            raise
        # Every rank finds the same mistake in the config and rank 0 alone says it. Leaving at once
        # would let torchrun stop rank 0 (SIGTERM) before it has printed its line; waiting lets
        # rank 0 fail first, and torchrun then stops this rank.
        time.sleep(OTHER_RANKS_WAIT_SECONDS)
        return 1
    except KeyboardInterrupt as exc:
        if launch.distributed and not launch.is_main and launched_by_corenn():
            return 143 if isinstance(exc, Terminated) else 130  # rank 0 says that the run stopped
        raise


def _launch_config(args):
    """The config the processes of ``--nproc`` will train (overrides applied; a resumed run's
    recorded one), for the launcher's checks before it starts them."""
    from pathlib import Path

    from corenn.cli.common import load_run_config
    from corenn.records.folder import CONFIG_FILE
    from corenn.run.config import load_config, with_overrides

    if args.resume:
        recorded = Path(args.resume) / CONFIG_FILE
        if not recorded.is_file():
            return None  # the ranks say what is wrong with the run directory
        return with_overrides(load_config(recorded), backend=args.backend, device=args.device)
    return load_run_config(args, name=args.name, lr=args.lr, mixed_precision=args.mixed_precision)


def _restarted_run(args, launch):
    """The run directory a restarted torchrun group continues (``--out``/``--name``), or ``None``."""
    from pathlib import Path

    from corenn.errors import ConfigError
    from corenn.records.folder import CHECKPOINT_FILE

    if args.resume or launch.max_restarts == 0:
        return None
    if args.name is None:
        raise ConfigError(
            "under torchrun --max-restarts, give the run a --name: a restarted group continues the run of that name"
        )
    run_dir = Path(args.out) / args.name
    return run_dir if launch.restarted and (run_dir / CHECKPOINT_FILE).is_file() else None


def _run(args, launch):
    import contextlib
    import sys

    from corenn.cli.common import check_positive_flags, load_run_config, print_json, stderr
    from corenn.plugins import get_plugins
    from corenn.run.resume import resume
    from corenn.run.train import train

    restarted = _restarted_run(args, launch)
    if restarted is not None:
        args.resume = str(restarted)
        if launch.is_main:
            stderr(f"corenn train: torchrun restarted the group (restart {launch.restart_count}); resuming {restarted}")
    troubles = get_plugins().troubles()
    if troubles:  # a run goes on without them, but its components may be missing for that reason
        stderr(f"corenn train: warning: {troubles}")
    verbose = not args.quiet
    # With --json the per-epoch lines go to stderr, so stdout holds only the result.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        if args.resume:
            if restarted is None:
                _reject_config_flags_on_resume(args)
            check_positive_flags(args, ("--threads",))  # --epochs is checked against the run's own
            result = resume(
                args.resume,
                data_dir=args.data_dir,
                verbose=verbose,
                epochs=args.epochs,
                backend=args.backend,
                device=args.device,
                threads=args.threads,
                kernels=args.kernels,
            )
        else:
            config = load_run_config(args, name=args.name, lr=args.lr, mixed_precision=args.mixed_precision)
            # Without --name a taken name becomes name-2 (as train() from Python does); --name means that one.
            result = train(
                config,
                data_dir=args.data_dir,
                out_dir=args.out,
                overwrite=args.overwrite,
                free_name=args.name is None,
                verbose=verbose,
            )
    if not launch.is_main:
        return 0  # rank 0 alone reports
    if args.json:
        print_json(result)
    else:
        print(final_line(result))
        print(f"records: {result['run_dir']}")
    return 0


def final_line(result):
    """The line a run ends with: its epochs and time, and its accuracies (a regression: R^2, MSE
    and MAE) with whose parameters gave them: ``iris-ffnn: 21 epochs in 0.6s (stopped early), test accuracy 0.9667 with the best
    epoch's parameters (epoch 11: val_accuracy 1.0000)``."""
    from corenn.run.console import duration
    from corenn.run.summaries import count

    line = f"{result['name']}: {count(result['epochs'], 'epoch')} in {duration(result['seconds'])}"
    if result.get("stopped_early"):
        line += " (stopped early)"
    restored, best = result.get("restored_best"), result.get("best_epoch")
    metric = next((key.removeprefix("best_") for key in result if key.startswith("best_val_")), "val_accuracy")
    test, val = _scores(result, "test"), _scores(result, "val")
    if test is None:
        return f"{line}, {val}" if val else line  # no validation split either: val_size = 0
    if restored and best is not None:
        return (
            f"{line}, {test} with the best epoch's parameters (epoch {best}: {metric} {result[f'best_{metric}']:.4f})"
        )
    if val:
        line += f", {val}"
    return f"{line}, {test} with the last epoch's parameters"


def _scores(result, split):
    """A split's scores for the final line: its accuracy, or a regression's R^2, MSE and MAE."""
    if result.get(f"{split}_accuracy") is not None:
        return f"{split} accuracy {result[f'{split}_accuracy']:.4f}"
    if result.get(f"{split}_r2") is not None:
        return (
            f"{split} R^2 {result[f'{split}_r2']:.4f}, MSE {result[f'{split}_mse']:.5g}, "
            f"MAE {result[f'{split}_mae']:.5g}"
        )
    return None


def _reject_config_flags_on_resume(args):
    """A resumed run keeps its recorded config; silently ignoring a flag would mislead."""
    from corenn.errors import ConfigError

    mixed_precision_flag = "--mixed-precision" if args.mixed_precision else "--no-mixed-precision"
    given = [
        flag
        for flag, value in (
            ("--config", args.config),
            ("--preset", args.preset),
            ("--lr", args.lr),
            ("--name", args.name),
            ("--batch-size", args.batch_size),
            ("--seed", args.seed),
            ("--dtype", args.dtype),
            (mixed_precision_flag, args.mixed_precision),
        )
        if value is not None
    ] + (["--overwrite"] if args.overwrite else [])
    if given:
        raise ConfigError(
            f"--resume continues a run with its recorded config; {', '.join(given)} cannot be combined with it "
            "(only --epochs, --backend, --device, --threads, --kernels, --data-dir, --quiet and --json can)"
        )
