"""``corenn compare``: several runs' loss and accuracy curves overlaid in one PNG."""

HELP = "overlay the loss and accuracy curves of several runs in one PNG"


def add_arguments(parser):
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories that corenn train created")
    parser.add_argument("--out", default="curves.png", metavar="FILE", help="the PNG to write (default: curves.png)")


def run(args):
    from corenn.records.folder import check_output_beside_records
    from corenn.trained.runs import compare_runs

    check_output_beside_records(args.out)
    path = compare_runs(args.run_dirs, args.out)
    print(f"wrote {path}")
    return 0
