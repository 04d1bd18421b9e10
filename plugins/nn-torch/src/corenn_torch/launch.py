"""torchrun (``torch.distributed.run``) for ``corenn train --nproc N``, its failures said in one line.

``python -m corenn_torch.launch ARGS`` takes torchrun's arguments and runs torchrun's own main.
A rank that stops with corenn's error has printed that one line already, so the launcher adds
nothing; a rank killed by a signal or failing otherwise gets one line naming it. torchrun's own
log lines and tracebacks are held back (its logger set to errors only).
"""

import logging
import signal
import sys


def _failure_line(error):
    """One line for torch's ChildFailedError, or ``None`` when a rank failed with status 1: corenn's
    own error, already printed on one line (torchrun then stops the other ranks).

    The line names the ranks that failed first; those torchrun stopped because of them (killed by
    SIGTERM) come after, as such. A rank killed some other way, or failing before corenn could say
    why (at start-up, in Python itself), printed whatever it printed above the line."""
    failures = getattr(error, "failures", {}) or {}
    codes = {rank: failure.exitcode for rank, failure in failures.items()}
    if any(code == 1 for code in codes.values()):
        return None
    stopped = sorted(rank for rank, code in codes.items() if code == -signal.SIGTERM)
    failed = {rank: code for rank, code in codes.items() if rank not in stopped}
    if not failed:  # every rank got SIGTERM: the group was stopped from outside
        failed, stopped = codes, []
    parts = []
    for rank, code in sorted(failed.items()):
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            parts.append(f"rank {rank} was killed by {name}")
        else:
            parts.append(f"rank {rank} exited with status {code}")
    line = "; ".join(parts) or "the process group failed"
    if stopped:
        line += f", so torchrun stopped rank{'s' if len(stopped) > 1 else ''} {', '.join(map(str, stopped))}"
    return f"corenn train: error: {line} (any output of the failed rank is above)"


def main(argv=None):
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    for name in list(logging.root.manager.loggerDict):  # torch gives each module's logger its own level
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    args = get_args_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except ChildFailedError as error:
        line = _failure_line(error)
        if line:
            print(line, file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
