"""``corenn presets``: the bundled configs, one line each (``corenn show NAME`` prints one)."""

HELP = "list the bundled configs (presets), one line each; corenn show NAME prints one"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of lines")


def run(args):
    from corenn.cli.common import print_json
    from corenn.run.starters import presets

    listed = presets()
    if args.json:
        print_json(
            [
                {
                    "name": name,
                    "description": description,
                    "dataset": config.dataset.name,
                    "epochs": config.epochs,
                    "backend": config.backend,
                }
                for name, description, config in listed
            ]
        )
        return 0
    width = max(len(name) for name, _, _ in listed)
    for name, description, _ in listed:
        print(f"{name:<{width}}  {description}")
    print("Print one with `corenn show NAME`, train it with `corenn train --preset NAME`.")
    return 0
