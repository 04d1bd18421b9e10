"""``corenn predict``: a trained run's predictions for a data set's split, as a CSV file
(Id,Category; see :mod:`corenn.trained.predict`), or with ``--input`` for new samples in files
(class names and probabilities; see :mod:`corenn.trained.predict_input`)."""

HELP = "a trained run's predictions: for a data set's split, or for new samples (--input FILE or FOLDER)"


def add_arguments(parser):
    from corenn.cli.common import add_trained_run_arguments

    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory that corenn train created")
    parser.add_argument(
        "--input",
        metavar="PATH",
        help="new samples: a CSV of feature rows, an .npz (array X), one image or a folder of images; "
        "writes the predicted class and each class's probability per sample (a regression: the values); "
        "NaN or infinite inputs the run cannot fill are refused, naming the row and column",
    )
    parser.add_argument(
        "--top-k", type=int, metavar="K", help="with --input: the K most probable classes only (default: every class)"
    )
    parser.add_argument("--dataset", help="the data set to predict (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", help="which split: train, val or test (default: test)")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="the CSV file to write (default: predictions-<dataset>-<split>.csv in RUN_DIR; with --input, standard output)",
    )
    add_trained_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a summary as one JSON object")


def run(args):
    from pathlib import Path

    import numpy as np

    from corenn.cli.common import print_json, stderr
    from corenn.files import atomic_write
    from corenn.trained.predict import class_counts, other_data_warning, split_outputs, submission_csv, values_csv

    if args.out is not None:
        from corenn.records.folder import check_output_beside_records

        check_output_beside_records(args.out)
    if args.input is not None:
        return _run_on_input(args)
    if args.top_k is not None:
        from corenn.errors import ConfigError

        raise ConfigError("--top-k goes with --input (the split mode writes one class per sample)")
    from corenn.records.folder import tested_parameters

    args.which = args.which or tested_parameters(args.run_dir)  # said in the summary
    outputs = split_outputs(
        args.run_dir,
        dataset=args.dataset,
        split=args.split,
        data_dir=args.data_dir,
        backend=args.backend,
        device=args.device,
        batch_size=args.batch_size,
        which=args.which,
    )
    warning = other_data_warning(outputs, args.run_dir)
    if warning:
        stderr(warning)
    # Beside the run, never into whatever folder the shell happens to be in.
    out = args.out or Path(args.run_dir) / f"predictions-{outputs.dataset}-{args.split}.csv"
    if outputs.task == "regression":
        atomic_write(out, values_csv(outputs.values, outputs.class_names))
        summary = {
            "run_dir": str(args.run_dir),
            "dataset": outputs.dataset,
            "split": args.split,
            "which": args.which,
            "task": "regression",
            "predictions": len(outputs.values),
            "targets": list(outputs.class_names),
            "out": str(out),
        }
        if args.json:
            print_json(summary)
        else:
            print(f"wrote {len(outputs.values)} predicted values ({args.split} split) to {out}")
        return 0
    labels = outputs.predicted
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


def _run_on_input(args):
    import sys

    from corenn.cli.common import print_json, stderr
    from corenn.data.columns import unknown_categories_said
    from corenn.errors import ConfigError
    from corenn.files import atomic_write
    from corenn.trained.predict_input import predict_input

    if args.dataset is not None or args.split != "test":
        raise ConfigError("--input replaces --dataset and --split: give one or the other")
    with unknown_categories_said(lambda message: stderr(f"warning: {message}")):
        text, count = predict_input(
            args.run_dir,
            args.input,
            top_k=args.top_k,
            which=args.which,
            backend=args.backend,
            device=args.device,
            batch_size=args.batch_size,
            data_dir=args.data_dir,
        )
    if args.out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        if args.json:
            stderr("--json: the predictions went to standard output; a summary needs --out FILE")
        return 0
    atomic_write(args.out, text)
    if args.json:
        print_json({"run_dir": str(args.run_dir), "input": str(args.input), "predictions": count, "out": str(args.out)})
    else:
        print(f"wrote {count} predictions for {args.input} to {args.out}")
    return 0
