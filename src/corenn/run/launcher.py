"""``corenn train --nproc N``: starting torchrun for one machine, the command line checked first.

The processes are started by torchrun itself (``torch.distributed.run``, through
``corenn_torch.launch``, which turns a failed group into one line), each running
``python -m corenn train`` with the same arguments but ``--nproc``; this module only builds that
command, picks or checks the port on 127.0.0.1, and waits. It never imports torch.
"""

import importlib.util
import os
import socket
import subprocess
import sys

from corenn.backend import TORCH_INSTALL
from corenn.errors import ConfigError

LAUNCHER_FLAGS = ("--nproc", "--master-port")


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


def launch_on_this_machine(argv, nproc, port=None):
    """Run ``corenn`` with ``argv`` as ``nproc`` data-parallel processes; returns their exit status."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer, got {nproc}")
    if os.environ.get("WORLD_SIZE") or os.environ.get("TORCHELASTIC_RUN_ID"):
        raise ConfigError("--nproc starts torchrun; a process already started by torchrun must not have it")
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
    return subprocess.run(torchrun_command(argv, nproc, port), env=env, check=False).returncode
