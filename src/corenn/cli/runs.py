"""``corenn runs``: the runs in a folder, with their data set, epochs, accuracies, time and status."""

HELP = (
    "list the runs in a folder: data set, epochs, best epoch's validation and test accuracy (a regression: R^2), "
    "time, status (early stops and damaged runs said)"
)


def add_arguments(parser):
    parser.add_argument(
        "folder", nargs="?", default="experiments", metavar="DIR", help="where the runs are (default: experiments)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args):
    from corenn.cli.common import print_json
    from corenn.trained.runs import format_runs, json_safe, list_runs

    rows = list_runs(args.folder)
    if args.json:
        print_json(json_safe(rows))  # NaN (a diverged run's loss) as null: valid JSON
    else:
        print(format_runs(rows))
    return 0
