"""``corenn sweep``: a learning-rate x hidden-size grid for a preset or config."""

HELP = (
    "grid-search learning rate and hidden size; report the best by validation accuracy, "
    "and its test accuracy only (every combination's run is kept)"
)


def parse_numbers(text, flag, kind):
    """``"0.1,0.02"`` -> ``[0.1, 0.02]``; a word that is not a number is a ConfigError naming
    the flag and the word (argparse's own would say ``invalid _floats value``)."""
    from corenn.errors import ConfigError

    numbers = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            numbers.append(kind(part))
        except ValueError:
            what = "numbers" if kind is float else "whole numbers"
            raise ConfigError(f"{flag} takes {what} separated by commas, e.g. {EXAMPLES[flag]}; got {part!r}") from None
    return numbers


EXAMPLES = {"--lrs": "0.005,0.02,0.05", "--hidden": "16,32"}


def _score(row):
    """``(name, value)`` of a sweep row's validation score: accuracy (``acc``), or a regression's R^2."""
    return ("r2", row["val_r2"]) if "val_r2" in row else ("acc", row["val_accuracy"])


def add_arguments(parser):
    from corenn.cli.common import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument(
        "--lrs",
        default="0.005,0.02,0.05",
        metavar="A,B,...",
        help="learning rates (default 0.005,0.02,0.05)",
    )
    parser.add_argument("--hidden", default="16,32", metavar="N,M,...", help="hidden layer sizes (default 16,32)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing sweep directory")


def run(args):
    from corenn.cli.common import load_run_config, print_json, stderr
    from corenn.trained.sweep import run_sweep

    learning_rates = parse_numbers(args.lrs, "--lrs", float)
    hidden_sizes = parse_numbers(args.hidden, "--hidden", int)
    config = load_run_config(args)

    def show(row):
        name, value = _score(row)
        stderr(
            f"  lr {row['lr']:<8g} hidden {row['hidden']:<5} best epoch {row['best_epoch']}: val_{name} {value:.4f}  "
            f"val_loss {row['val_loss']:.4f}  {row['seconds']:.1f}s"
        )

    summary = run_sweep(
        config,
        learning_rates,
        hidden_sizes,
        data_dir=args.data_dir,
        out_dir=args.out,
        overwrite=args.overwrite,
        progress=None if args.json else show,
    )
    if args.json:
        print_json(summary)
        return 0
    name = _score(summary["rows"][0])[0]
    print(
        f"{'lr':>8} {'hidden':>6} {'train_loss':>10} {'best_ep':>7} {'val_' + name:>8} {'val_loss':>8} {'test_' + name:>8}"
    )
    for row in summary["rows"]:
        marker = "  <- best" if row is summary["best"] or row == summary["best"] else ""
        test = row.get(f"test_{'r2' if name == 'r2' else 'accuracy'}")
        test = "-" if test is None else f"{test:.4f}"
        print(
            f"{row['lr']:>8g} {row['hidden']:>6} {row['train_loss']:>10.4f} {row['best_epoch'] or '-':>7} "
            f"{_score(row)[1]:>8.4f} {row['val_loss']:>8.4f} {test:>8}{marker}"
        )
    best = summary["best"]
    print(
        f"best by validation {'R^2' if name == 'r2' else 'accuracy'} (at each run's best epoch, as corenn runs lists it): "
        f"lr {best['lr']:g}, hidden {best['hidden']}"
    )
    if summary["best_test_error"] is not None:
        print(f"its test error: {summary['best_test_error']:.4f}")
    print(f"its loss plot: {summary['best_loss_plot']}")
    print(f"its run (for corenn predict / evaluate): {summary['best_run_dir']}")
    return 0
