"""``corenn predict``: a trained run's predictions for a data set's split, as a CSV file
(Id,Category; see :mod:`corenn.run.predict`)."""

HELP = "write a trained run's predictions for a data set's split as a CSV file (Id,Category)"


def add_arguments(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory that corenn train created")
    parser.add_argument("--dataset", help="the data set to predict (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", help="which split: train, val or test (default: test)")
    parser.add_argument(
        "--out", default="submission.csv", metavar="FILE", help="the CSV file to write (default: submission.csv)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)"
    )
    parser.add_argument("--device", help="device for backends that have several (cpu, cuda, auto; default: the run's)")
    parser.add_argument("--batch-size", type=int, default=1024, help="samples per forward pass (default: 1024)")
    parser.add_argument("--json", action="store_true", help="print a summary as one JSON object")


def run(args):
    from corenn.cli.common import print_json
    from corenn.run.files import atomic_write
    from corenn.run.predict import predict_labels, submission_csv

    labels = predict_labels(
        args.run_dir,
        dataset=args.dataset,
        split=args.split,
        data_dir=args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
    )
    atomic_write(args.out, submission_csv(labels))
    summary = {
        "run_dir": str(args.run_dir),
        "dataset": args.dataset,
        "split": args.split,
        "predictions": len(labels),
        "out": str(args.out),
    }
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {len(labels)} predictions ({args.split} split) to {args.out}")
    return 0
