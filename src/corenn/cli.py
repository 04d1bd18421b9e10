"""The ``corenn`` command line.

Each sub-command lives in ``corenn.commands.<name>``, a module that imports only argparse at
the top (so ``corenn --help`` stays fast and never imports numpy or torch) and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
"""

import argparse
import importlib
import sys

from corenn.errors import CorennError

COMMANDS = ("train", "predict", "sweep", "plugins", "gradcheck", "listing")


def _version_text():
    from corenn.plugins import _core_version, get_plugins

    lines = [f"corenn {_core_version()}"]
    for info in get_plugins().plugins[1:]:
        status = "" if info.status == "ok" else f" ({info.status}: {info.error})"
        lines.append(f"  {info.name}: {info.distribution} {info.version}{status}")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """``--version`` lists the plugins too, which needs loading them: done only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version_text())
        parser.exit()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="corenn",
        description="Train and inspect small neural networks; components come from plugins.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show corenn's and every plugin's version")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"corenn.commands.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def _parse(parser, argv):
    """Parse the command line; a command with ``ACCEPTS_OPTIONS_ANYWHERE`` gets the ``KEY=VALUE``
    words that follow a flag too (argparse would refuse them as unrecognized)."""
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    module = importlib.import_module(f"corenn.commands.{args.command}") if getattr(args, "command", None) else None
    destination = getattr(module, "ACCEPTS_OPTIONS_ANYWHERE", None)
    if destination is None or any(word.startswith("-") or "=" not in word for word in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    getattr(args, destination).extend(extra)
    return args


def main(argv=None):
    parser = build_parser()
    args = _parse(parser, argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except CorennError as exc:
        print(f"corenn {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"corenn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
