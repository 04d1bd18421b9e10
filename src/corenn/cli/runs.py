"""``corenn runs``: the runs in a folder, with their data set, epochs, accuracies, time and status."""

HELP = "list the runs in a folder: data set, epochs, best val and test accuracy, time, status"


def add_arguments(parser):
    parser.add_argument(
        "folder", nargs="?", default="experiments", metavar="DIR", help="where the runs are (default: experiments)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args):
    from corenn.cli.common import print_json
    from corenn.trained.runs import format_runs, list_runs

    rows = list_runs(args.folder)
    if args.json:
        print_json(rows)
    else:
        print(format_runs(rows))
    return 0
