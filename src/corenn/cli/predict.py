"""``corenn predict``: a trained run's predictions for a data set's split, as a CSV file
(Id,Category; see :mod:`corenn.run.predict`)."""

HELP = "write a trained run's predictions for a data set's split as a CSV file (Id,Category)"


def add_arguments(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory that corenn train created")
    parser.add_argument("--dataset", help="the data set to predict (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", help="which split: train, val or test (default: test)")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="the CSV file to write (default: predictions-<dataset>-<split>.csv in RUN_DIR)",
    )
    parser.add_argument(
        "--which",
        choices=("last", "best"),
        default="last",
        help="the parameters to use: the last epoch's (parameters.npz) or the best validation epoch's (best.npz)",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)"
    )
    parser.add_argument("--device", help="device for backends that have several (cpu, cuda, auto; default: the run's)")
    parser.add_argument("--batch-size", type=int, default=1024, help="samples per forward pass (default: 1024)")
    parser.add_argument("--json", action="store_true", help="print a summary as one JSON object")


def run(args):
    from pathlib import Path

    import numpy as np

    from corenn.cli.common import print_json, stderr
    from corenn.run.files import atomic_write
    from corenn.run.predict import class_counts, other_data_warning, split_outputs, submission_csv

    outputs = split_outputs(
        args.run_dir,
        dataset=args.dataset,
        split=args.split,
        data_dir=args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
        which=args.which,
    )
    warning = other_data_warning(outputs, args.run_dir)
    if warning:
        stderr(warning)
    labels = outputs.predicted
    # Beside the run, never into whatever folder the shell happens to be in.
    out = args.out or Path(args.run_dir) / f"predictions-{outputs.dataset}-{args.split}.csv"
    atomic_write(out, submission_csv(labels))
    counts = np.bincount(labels.astype(np.int64), minlength=len(outputs.class_names))
    summary = {
        "run_dir": str(args.run_dir),
        "dataset": outputs.dataset,
        "split": args.split,
        "which": args.which,
        "predictions": len(labels),
        "classes": list(outputs.class_names),
        "predicted_per_class": {name: int(count) for name, count in zip(outputs.class_names, counts, strict=False)},
        "out": str(out),
    }
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {len(labels)} predictions ({args.split} split) to {out}")
        print(f"classes (index name: predicted): {class_counts(labels, outputs.class_names)}")
    return 0
