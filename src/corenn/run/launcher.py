"""``corenn train --nproc N``: starting torchrun for one machine, the command line checked first,
and stopping it whole.

The processes are started by torchrun itself (``torch.distributed.run``, through
``corenn_torch.launch``, which turns a failed group into one line per distinct error), each
running ``python -m corenn train`` with the same arguments but ``--nproc``; this module only
checks what can be checked before anything starts (the flags written in full, the number of
processes against the machine's CPUs and the global batch, the port, whether PyTorch can start
at all), builds that command, and waits. It never imports torch.

**Stopping.** The torchrun agent runs in a process group of its own, so a Ctrl-C at the terminal
reaches this launcher alone; the launcher forwards SIGINT and SIGTERM (and SIGHUP, as SIGTERM)
to the agent's group once, the agent passes it to every rank, and the ranks agree to stop at the
same step (see :class:`corenn.run.loop.Trainer`), rank 0 saving a checkpoint. The launcher waits
for that at most :data:`STOP_GRACE_SECONDS`, then kills whatever is left (the agent and the
ranks it started), so no process outlives it. The run is then ``interrupted`` (``corenn runs``)
and continues with ``corenn train --resume RUN --nproc N``.
"""

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from corenn.backend import TORCH_INSTALL
from corenn.errors import ConfigError
from corenn.run.distributed import LAUNCHER_VARIABLE, check_world_fits

try:
    import resource
except ImportError:  # Windows: no address-space limits to check
    resource = None

LAUNCHER_FLAGS = ("--nproc", "--master-port")
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
STOP_GRACE_SECONDS = 60
"""How long the launcher waits, after forwarding a stop, for the agent and the ranks to end. The
agent itself waits 30 s for the ranks (they stop at the next step and save a checkpoint: a
fraction of a second on a small run) before it kills them."""
DEVICE_VARIABLE = "CORENN_LAUNCH_DEVICE"
"""Tells ``corenn_torch.launch`` the run's device (``cuda``, ``auto``), so that it checks the number
of processes against the GPUs (one process per GPU with NCCL) before torchrun starts any."""


def free_port():
    """A TCP port on 127.0.0.1 that the system reports free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_port_free(port):
    """Refuse a port that another program holds on 127.0.0.1, in one line, before starting anything."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--master-port must be between 1 and 65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} on 127.0.0.1 is in use ({exc.strerror}); another run holds it? "
                "pick a free one with --master-port, or leave --master-port out to get one"
            ) from None


def check_flags_in_full(argv, master_port_given):
    """Refuse ``--npro 2`` or ``--master-p 29500``: argparse accepts a flag's abbreviation, but
    the ranks get the command line without the launcher's flags, found by their full names; an
    abbreviation would reach torchrun's own parser (and its 22-line usage)."""
    for flag, given in (("--nproc", True), ("--master-port", master_port_given)):
        if not given:
            continue
        if any(word == flag or word.startswith(f"{flag}=") for word in argv):
            continue
        typed = next(
            (
                word.split("=", 1)[0]
                for word in argv
                if word.startswith("--") and flag.startswith(word.split("=", 1)[0])
            ),
            "?",
        )
        raise ConfigError(
            f"write {flag} in full (got {typed}): corenn removes it by its full name from the ranks' command line"
        )


def usable_cpus():
    """The CPUs this process may run on (its affinity where the system says, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_world(nproc, config):
    """Refuse, before anything starts, a number of processes the machine or the run cannot take:
    more than the global batch (every rank needs a share of each batch), or, for a run on CPUs,
    more than the CPUs this process may use (a rank per CPU; more only slows every rank down and
    can take all the memory: 64 ranks took 3.1 GB before any check ran). A run on GPUs is
    checked against them by ``corenn_torch.launch``, which can ask torch."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer, got {nproc}")
    check_world_fits(nproc, config.dataset.batch_size, n_train=0, uses_sync_batch_norm=False)
    if on_gpus(config):
        return
    cpus = usable_cpus()
    if nproc > cpus:
        raise ConfigError(
            f"--nproc {nproc} starts {nproc} processes on CPUs, but this machine gives corenn {cpus} CPU"
            f"{'s' if cpus != 1 else ''}; use at most --nproc {cpus}"
        )


def on_gpus(config):
    """Whether the run may train on GPUs (the torch backend with ``cuda``, ``cuda:N`` or ``auto``)."""
    device = str(getattr(config, "device", "cpu") or "cpu")
    return getattr(config, "backend", "numpy") == "torch" and (device == "auto" or device.startswith("cuda"))


def without_launcher_flags(argv):
    """``argv`` (the words after ``corenn``) without ``--nproc N`` and ``--master-port P``."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in LAUNCHER_FLAGS:
            skip = True
            continue
        if any(word.startswith(f"{flag}=") for flag in LAUNCHER_FLAGS):
            continue
        kept.append(word)
    return kept


def torchrun_command(argv, nproc, port):
    """The command starting ``nproc`` processes of ``corenn`` with ``argv`` on this machine."""
    return [
        sys.executable,
        "-m",
        "corenn_torch.launch",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        "-m",
        "corenn",
        *without_launcher_flags(argv),
    ]


def check_torch_starts(env):
    """Under an address-space limit (``ulimit -v``) too low for PyTorch, importing it aborts the
    process with C++'s ``std::bad_alloc`` or an ImportError, in the agent and in every rank.
    Where such a limit is set, try it once in a child first and say so in one line."""
    if resource is None:
        return
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return
    probe = subprocess.run(
        [sys.executable, "-c", "import torch.distributed.run"], env=env, capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        lines = [line.strip() for line in (probe.stderr or "").splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {probe.returncode}"
        raise ConfigError(
            f"--nproc starts torchrun, but PyTorch cannot start under this process's address-space limit "
            f"(ulimit -v: {limit / 2**30:.1f} GiB; {reason}); raise the limit, or train in one process"
        )


def launch_on_this_machine(argv, nproc, port=None, config=None):
    """Run ``corenn`` with ``argv`` as ``nproc`` data-parallel processes; returns their exit status.

    ``config`` (the run's, overrides applied) sizes the checks of :func:`check_world`."""
    check_flags_in_full(argv, port is not None)
    if nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer, got {nproc}")
    if os.environ.get("WORLD_SIZE") or os.environ.get("TORCHELASTIC_RUN_ID"):
        raise ConfigError("--nproc starts torchrun; a process already started by torchrun must not have it")
    if config is not None:
        check_world(nproc, config)
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("corenn_torch") is None:
        raise ConfigError(
            f"--nproc starts the processes with torchrun, which needs PyTorch and corenn-torch: {TORCH_INSTALL}"
        )
    if port is None:
        port = free_port()
    else:
        check_port_free(port)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default for several processes, without its warning
    env[LAUNCHER_VARIABLE] = str(os.getpid())  # the ranks report their errors to it (see corenn_torch.launch)
    if config is not None and on_gpus(config):
        env[DEVICE_VARIABLE] = str(config.device)
    check_torch_starts(env)
    return run_until_stopped(torchrun_command(argv, nproc, port), env)


def run_until_stopped(command, env):
    """Run the torchrun agent ``command`` in a process group of its own until it ends; a stop
    signal to this process is forwarded to that group once (SIGHUP as SIGTERM), then the agent
    and its ranks get :data:`STOP_GRACE_SECONDS` to end before they are killed. Returns the
    agent's status, or 128 + the signal's number after a stop."""
    received, started = [], []

    def forward(signum, frame):
        if received:
            return  # the agent is stopping the ranks already; a second signal must not cut that short
        received.append(signum)
        if started:
            _send_stop(started[0], signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():  # handlers first: no signal is missed
        previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    agent = None
    try:
        own_group = {"process_group": 0} if os.name == "posix" else {}  # Windows has no process groups
        agent = subprocess.Popen(command, env=env, **own_group)
        started.append(agent)
        if received:  # a signal came while the agent was being started
            _send_stop(agent, received[0])
        deadline = None
        while True:
            try:
                status = agent.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_SECONDS
                if deadline is not None and time.monotonic() > deadline:
                    kill_agent_and_ranks(agent)
                    status = agent.wait()
                    break
    except BaseException:
        if agent is not None:
            kill_agent_and_ranks(agent)
            agent.wait()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        return 128 + received[0]
    return status


def _send_stop(agent, signum):
    """The stop signal ``signum`` to the agent's process group (SIGHUP as SIGTERM: the ranks save
    a checkpoint on SIGTERM, and die on SIGHUP)."""
    forwarded = signal.SIGTERM if signum == getattr(signal, "SIGHUP", None) else signum
    with contextlib.suppress(ProcessLookupError):
        if hasattr(os, "killpg"):
            os.killpg(agent.pid, forwarded)
        else:
            agent.send_signal(forwarded)


def kill_agent_and_ranks(agent):
    """SIGKILL the agent's process group and the ranks it started (torchrun starts each rank in a
    session of its own, out of the agent's group; they are found as its children)."""
    ranks = children_of(agent.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(agent.pid, signal.SIGKILL)
        else:
            agent.kill()
    for pid in ranks:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def children_of(pid):
    """The process ids whose parent is ``pid``, from ``/proc`` (Linux); empty elsewhere."""
    children = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stream:
                fields = stream.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            children.append(int(entry))
    return children
