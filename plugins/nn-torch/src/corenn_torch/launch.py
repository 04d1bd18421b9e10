"""torchrun (``torch.distributed.run``) for ``corenn train --nproc N``, its failures said in one line.

``python -m corenn_torch.launch ARGS`` takes torchrun's arguments and runs torchrun's own main.
Ranks started by corenn's launcher leave their one-line errors in torchrun's error files instead
of printing them (see :func:`corenn.run.distributed.report_to_launcher`); this agent prints each
distinct line once, in rank order. A rank killed by a signal, or failing before corenn could say
why, gets one line naming it. torchrun's own log lines and tracebacks are held back (its logger
set to errors only).

Before torchrun starts anything, a run on GPUs (``CORENN_LAUNCH_DEVICE``, set by the launcher)
is checked against the GPUs torch sees: NCCL takes one process per GPU. The agent dies with its
launcher (Linux's parent-death signal): a launcher killed outright still stops the ranks, which
save a checkpoint.
"""

import logging
import os
import signal
import sys
import tempfile

DEVICE_VARIABLE = "CORENN_LAUNCH_DEVICE"  # corenn.run.launcher.DEVICE_VARIABLE
LAUNCHER_VARIABLE = "CORENN_LAUNCHER"  # corenn.run.distributed.LAUNCHER_VARIABLE


def _failure_lines(error):
    """The lines to print for torch's ChildFailedError: each distinct error line that corenn's
    ranks left in their error files, once, in rank order; else :func:`_failure_line`'s."""
    failures = getattr(error, "failures", {}) or {}
    said = []
    for rank in sorted(failures):
        message = getattr(failures[rank], "message", "")
        if isinstance(message, str) and message.startswith("corenn ") and message not in said:
            said.append(message)
    if said:
        return said
    line = _failure_line(error)
    return [line] if line else []


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


def _device_problem(device, nproc, gpus, cpus):
    """Why ``nproc`` processes cannot train on ``device`` with ``gpus`` GPUs and ``cpus`` CPUs, or None."""
    if device == "auto" and gpus == 0:
        if nproc > cpus:
            return f"--nproc {nproc} starts {nproc} processes on CPUs (no GPU here), but this machine gives corenn {cpus}; use at most --nproc {cpus}"
        return None
    if device not in ("auto", "cuda"):
        if nproc > 1:
            return f"device {device!r} names one GPU, which {nproc} processes cannot share with NCCL; give device cuda (each process takes its own GPU)"
        return None
    if gpus == 0:
        return f"device {device!r}: torch sees no GPU here; use --device cpu (gloo, one process per CPU)"
    if nproc > gpus:
        return f"--nproc {nproc} trains on GPUs with NCCL, one process per GPU, but torch sees {gpus} GPU{'s' if gpus != 1 else ''} here; use at most --nproc {gpus}"
    return None


def _check_device(nproc):
    device = os.environ.get(DEVICE_VARIABLE)
    if not device:
        return None
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return _device_problem(device, nproc, gpus, cpus)


def _die_with_launcher():
    """Ask Linux to send this agent SIGTERM when its parent (corenn's launcher) dies, however it
    dies; the agent then stops the ranks as for any SIGTERM. Elsewhere nothing is done."""
    if not sys.platform.startswith("linux") or not os.environ.get(LAUNCHER_VARIABLE):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != os.environ[LAUNCHER_VARIABLE]:  # the launcher died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv=None):
    _die_with_launcher()
    try:
        from torch.distributed.elastic.multiprocessing.api import SignalException
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import get_args_parser, run
    except (ImportError, OSError) as exc:  # a broken install, or too little address space to map torch
        first = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"corenn train: error: --nproc starts torchrun, but PyTorch could not be imported ({first})",
            file=sys.stderr,
        )
        return 1

    for name in list(logging.root.manager.loggerDict):  # torch gives each module's logger its own level
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    args = get_args_parser().parse_args(sys.argv[1:] if argv is None else argv)
    problem = _check_device(int(args.nproc_per_node)) if str(args.nproc_per_node).isdigit() else None
    if problem:
        print(f"corenn train: error: {problem}", file=sys.stderr, flush=True)
        return 1
    with tempfile.TemporaryDirectory(prefix="corenn-torchrun-") as scratch:
        if args.log_dir is None:  # else torchrun leaves a torchelastic_* folder in /tmp behind every launch
            args.log_dir = scratch
        try:
            run(args)
        except ChildFailedError as error:
            for line in _failure_lines(error):
                print(line, file=sys.stderr, flush=True)
            return 1
        except SignalException as stop:  # SIGINT or SIGTERM, passed to the ranks, which have stopped
            return 128 + int(stop.sigval)
        except KeyboardInterrupt:
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
