"""``corenn plugins``: every plugin with its distribution, version, status and components."""

HELP = "list installed plugins, their versions, components and failures"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args):
    from corenn.commands.common import print_json
    from corenn.plugins import get_plugins

    plugins = [info.as_dict() for info in get_plugins().plugins]
    if args.json:
        print_json(plugins)
        return 0
    for info in plugins:
        status = "ok" if info["status"] == "ok" else f"FAILED: {info['error']}"
        print(f"{info['name']}  ({info['distribution']} {info['version']}, {info['module']})  {status}")
        for kind, names in info["components"].items():
            print(f"    {kind:<12} {', '.join(names)}")
    return 0
