"""The ``corenn`` command line.

Each sub-command lives in ``corenn.cli.<name>``, a module that imports only argparse at
the top (so ``corenn --help`` stays fast and never imports numpy or torch) and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Beside them:
:mod:`~corenn.cli.common`, the arguments and output several commands share;
:mod:`~corenn.cli.source_listings`, the source listings ``corenn listing`` renders; and
:mod:`~corenn.cli.plugin_check`, the components ``corenn plugins --check`` imports and builds.

Whatever escapes a command becomes one line on stderr and a non-zero status (see :func:`main`):
a user's error (:class:`CorennError`) says what was wrong; anything else is named as
unexpected, its traceback kept in the run folder's ``error.log`` (when the command had one)
and printed with ``--debug``.
"""

import argparse
import importlib
import signal
import sys

from corenn.errors import CorennError, Terminated

MAX_ERROR_CHARACTERS = 1000  # an option holding a 10 MB array must not make a 15 MB error line
ERROR_LOG_FILE = "error.log"

COMMANDS = ("train", "predict", "evaluate", "sweep", "runs", "compare", "plugins", "kernels", "gradcheck", "listing")

COMMANDS += ("describe",)  # issue 21


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
    parser.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"corenn.cli.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        # SUPPRESS: without --debug here, the value given before the command stays
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of an unexpected error"
        )
        sub.set_defaults(handler=module.run)
    return parser


def _parse(parser, argv):
    """Parse the command line; a command with ``ACCEPTS_OPTIONS_ANYWHERE`` gets the ``KEY=VALUE``
    words that follow a flag too (argparse would refuse them as unrecognized)."""
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    module = importlib.import_module(f"corenn.cli.{args.command}") if getattr(args, "command", None) else None
    destination = getattr(module, "ACCEPTS_OPTIONS_ANYWHERE", None)
    if destination is None or any(word.startswith("-") or "=" not in word for word in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    getattr(args, destination).extend(extra)
    return args


def main(argv=None):
    parser = build_parser()
    args = _parse(parser, argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # corenn train --nproc starts torchrun with them
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except CorennError as exc:
        print(f"corenn {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        # A second Ctrl-C must not cut this message nor turn the status into death by SIGINT.
        # Run as the `corenn` command (argv None) the process ends next, so it stays ignored.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            terminated = isinstance(exc, Terminated)
            print(f"corenn {args.command}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
            return 128 + signal.SIGTERM if terminated else 130
        finally:
            if argv is not None:
                signal.signal(signal.SIGINT, previous)
    except BaseException as exc:  # the final guard: a bug in corenn or a plugin, or no memory left
        print(f"corenn {args.command}: error: {_unexpected(exc, debug=args.debug)}", file=sys.stderr)
        return 1


def one_line(message, limit=MAX_ERROR_CHARACTERS):
    """``message`` on one line and at most about ``limit`` characters (its middle cut out)."""
    message = " ".join(message.split("\n"))
    if len(message) <= limit:
        return message
    keep = limit // 2
    return f"{message[:keep]} ...[{len(message) - 2 * keep:,} characters cut]... {message[-keep:]}"


def _unexpected(exc, *, debug):
    """One line for an exception that is no user's error; its traceback goes to the run
    folder's ``error.log`` (when there is one) and, with ``debug``, to stderr."""
    import traceback

    from corenn.errors import component_of, run_dir_of

    trace = "".join(traceback.format_exception(exc))
    if debug:
        print(trace, file=sys.stderr, end="")
    kept = None
    run_dir = run_dir_of(exc)
    if run_dir is not None:
        from corenn.files import atomic_write

        try:
            atomic_write(run_dir / ERROR_LOG_FILE, trace)
            kept = run_dir / ERROR_LOG_FILE
        except (CorennError, OSError):
            kept = None
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError):
        summary = f"out of memory ({what}); make the network or --batch-size smaller"
    elif isinstance(exc, RecursionError):
        summary = f"nested too deep ({what}); nest fewer layers or config tables"
    else:
        summary = f"unexpected {what} (a bug in corenn or a plugin)"
    component = component_of(exc)  # the layer it escaped from, and that layer's plugin
    if component:
        summary = f"{component}: {summary}"
    where = f"the traceback is in {kept}" if kept else "run again with --debug for the traceback"
    return one_line(f"{summary}; {where}")
