"""``corenn evaluate``: a trained run's accuracy, per-class precision and recall and confusion
matrix (a regression: MSE, MAE and R^2) on a data set's split, or on labelled samples in files
(see :mod:`corenn.trained.evaluate`)."""

HELP = (
    "evaluate a trained run on a split: accuracy, per-class precision/recall, confusion matrix and its plot "
    "(a regression: MSE, MAE, R^2)"
)


def add_arguments(parser):
    from corenn.cli.common import add_trained_run_arguments

    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory that corenn train created")
    parser.add_argument(
        "--input",
        metavar="PATH",
        help="labelled samples instead of a data set's split: a CSV with the run's label column, an .npz with X "
        "and y, or a folder of class folders (root/<class>/image.png)",
    )
    parser.add_argument("--dataset", help="the data set to evaluate on (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", help="which split: train, val or test (default: test)")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="where to draw the plot (default: RUN_DIR/confusion.png for the run's test split; "
        "confusion-<split>.png, confusion-input-<file>.png... for others; a regression: predictions*.png)",
    )
    add_trained_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args):
    from pathlib import Path

    from corenn.cli.common import print_json, stderr
    from corenn.data.columns import unknown_categories_said
    from corenn.errors import ConfigError
    from corenn.trained.evaluate import default_plot_name, evaluate_input, evaluate_run, format_report, write_plot

    options = dict(
        which=args.which, data_dir=args.data_dir, backend=args.backend, device=args.device, batch_size=args.batch_size
    )
    if args.input is not None:
        if args.dataset is not None or args.split != "test":
            raise ConfigError("--input replaces --dataset and --split: give one or the other")
        with unknown_categories_said(lambda message: stderr(f"warning: {message}")):
            report = evaluate_input(args.run_dir, args.input, **options)
    else:
        report = evaluate_run(args.run_dir, dataset=args.dataset, split=args.split, **options)
    if report["warning"]:
        stderr(report["warning"])
    plot = write_plot(report, args.plot or Path(args.run_dir) / default_plot_name(report))
    report.pop("points", None)  # a regression's plotted values: in the plot, not the report
    report["plot"] = str(plot)
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
        print(f"\n{'predictions' if report.get('task') == 'regression' else 'confusion'} plot: {plot}")
    return 0
