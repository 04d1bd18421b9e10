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
import contextlib
import importlib
import signal
import sys

from corenn.errors import CorennError, Terminated, closest_name, did_you_mean

MAX_ERROR_CHARACTERS = 1000  # an option holding a 10 MB array must not make a 15 MB error line
ERROR_LOG_FILE = "error.log"

COMMANDS = (
    "train",
    "predict",
    "evaluate",
    "sweep",
    "runs",
    "compare",
    "plugins",
    "kernels",
    "gradcheck",
    "listing",
    "presets",
    "show",
    "init",
    "summary",
)

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
    parser.commands = {}  # each command's own parser, for its usage and its flags (see _parse)
    for name in COMMANDS:
        module = importlib.import_module(f"corenn.cli.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        parser.commands[name] = sub
        module.add_arguments(sub)
        # SUPPRESS: without --debug here, the value given before the command stays
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of an unexpected error"
        )
        sub.set_defaults(handler=module.run)
    return parser


def _parse(parser, argv):
    """Parse the command line; a command with ``ACCEPTS_OPTIONS_ANYWHERE`` gets the ``KEY=VALUE``
    words that follow a flag too (argparse would refuse them as unrecognized).

    A mistyped command or flag is refused with the closest one (``--learning-rate``: did you
    mean ``--lr``?) and the usage of the command it was given to."""
    _check_command(parser, sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    command = getattr(args, "command", None)
    module = importlib.import_module(f"corenn.cli.{command}") if command else None
    destination = getattr(module, "ACCEPTS_OPTIONS_ANYWHERE", None)
    if destination is None or any(word.startswith("-") or "=" not in word for word in extra):
        command_parser = parser.commands.get(command, parser)
        known = [flag for action in command_parser._actions for flag in action.option_strings]
        hints = [
            f"{flag} (did you mean {closest}?)"
            for word in extra
            if word.startswith("-") and (closest := closest_name(flag := word.split("=", 1)[0], known)) is not None
        ]
        command_parser.error(f"unrecognized arguments: {' '.join(extra)}" + (f"; {', '.join(hints)}" if hints else ""))
    getattr(args, destination).extend(extra)
    return args


def _check_command(parser, argv):
    """Refuse an unknown command word (the first word that is not a flag) with the closest command."""
    words = [str(word) for word in argv if not str(word).startswith("-")]
    if words and words[0] not in COMMANDS:
        parser.error(f"unknown command {words[0]!r}{did_you_mean(words[0], COMMANDS)}; commands: {', '.join(COMMANDS)}")


def main(argv=None):
    try:
        status = _main(argv)
        sys.stdout.flush()  # here rather than at exit, where a closed pipe could no longer be handled
        return status
    except BrokenPipeError:
        if not _reader_went_away():
            raise
        return _quiet_after_broken_pipe(own_process=argv is None)


def _main(argv):
    print_warnings_on_one_line()
    parser = build_parser()
    args = _parse(parser, argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # corenn train --nproc starts torchrun with them
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except CorennError as exc:
        _say(f"corenn {args.command}: error: {one_line(str(exc))}{saved_note(exc)}")
        return 1
    except KeyboardInterrupt as exc:
        # A second Ctrl-C must not cut this message nor turn the status into death by SIGINT.
        # Run as the `corenn` command (argv None) the process ends next, so it stays ignored.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            terminated = isinstance(exc, Terminated)
            _say(f"corenn {args.command}: {'terminated' if terminated else 'interrupted'}")
            return 128 + signal.SIGTERM if terminated else 130
        finally:
            if argv is not None:
                signal.signal(signal.SIGINT, previous)
    except BaseException as exc:  # the final guard: a bug in corenn or a plugin, or no memory left
        if isinstance(exc, BrokenPipeError) and _reader_went_away():
            raise  # the reader of the output went away: main stops quietly
        _say(f"corenn {args.command}: error: {_unexpected(exc, debug=args.debug)}{saved_note(exc)}")
        return 1


def saved_note(exc):
    """``"; checkpoint saved (...) ..."`` when training saved its progress before the error
    stopped it (:func:`corenn.errors.remember_saved`), else nothing."""
    from corenn.errors import saved_of

    saved = saved_of(exc)
    return f"; {saved}" if saved else ""


def _say(line):
    """An error line on stderr; nothing when stderr's reader has gone too (``2>&1 | head -1``)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except BrokenPipeError:
        pass


def _reader_went_away():
    """Whether standard output or error is a pipe whose reading end was closed (``corenn runs |
    head -1`` once ``head`` has its line), rather than some other pipe of the command breaking.
    POSIX's poll reports such a pipe as an error; where there is no poll (Windows), say yes."""
    import select

    if not hasattr(select, "poll"):
        return True
    for stream in (sys.stdout, sys.stderr):
        try:
            descriptor = stream.fileno()
        except (AttributeError, OSError, ValueError):  # replaced by an object without a file (tests)
            continue
        poller = select.poll()
        poller.register(descriptor, 0)  # errors and hang-ups are always reported
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
            return True
    return False


def _quiet_after_broken_pipe(*, own_process):
    """Stop without a word, as every command-line tool does when its reader leaves: killed by
    SIGPIPE, its status is 128 + SIGPIPE (141; 1 where there is no SIGPIPE). Python would flush
    standard output once more at exit and complain that it cannot, so in the ``corenn`` process
    itself standard output then points at the null device."""
    if own_process:
        import os

        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


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


def print_warnings_on_one_line():
    """Python prints a warning on two lines (where it was raised, then that source line), and
    numpy's, Pillow's and torch's messages may span several: print each as one line instead,
    ``corenn: warning: <message> (<category>)``, as corenn prints its errors."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        text = one_line(" ".join(str(message).split()))
        try:
            print(f"corenn: warning: {text} ({category.__name__})", file=file or sys.stderr, flush=True)
        except (OSError, ValueError):  # stderr closed or gone: a warning is not worth failing for
            pass

    warnings.showwarning = show
