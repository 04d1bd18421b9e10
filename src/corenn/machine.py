"""What this machine gives a run: the memory the operating system can still hand over, the
BLAS's threads, and the numbers set in the environment (:func:`environment_number`).

At the bottom of the import graph with the backends (:mod:`corenn.backend`), whose
``available_memory`` and ``limit_threads`` read and set these.
"""

import contextlib
import math
import os
from pathlib import Path

from corenn.errors import ConfigError

UNLIMITED = 2**60
"""A cgroup v1 memory limit at or above this is the kernel's way of writing "no limit"."""


def host_memory_available(proc=Path("/proc"), cgroups=Path("/sys/fs/cgroup")):
    """Bytes the operating system can still give this process: ``MemAvailable`` plus
    ``SwapFree`` from ``/proc/meminfo`` (a run that swaps is slow, but it finishes; the kernel
    kills only once both are spent), lowered to what the process's memory cgroup's limit leaves
    (see :func:`cgroup_memory_left`); ``None`` where ``/proc/meminfo`` cannot be read (not
    Linux). ``proc`` and ``cgroups`` are where those file systems are mounted."""
    try:
        fields = _key_values((proc / "meminfo").read_text(encoding="ascii"), ":")
        kib = int(fields["MemAvailable"].split()[0]) + int(fields.get("SwapFree", "0").split()[0])
    except (OSError, KeyError, ValueError, IndexError):
        return None
    left = cgroup_memory_left(proc, cgroups)
    return kib * 1024 if left is None else min(kib * 1024, left)


def cgroup_memory_left(proc=Path("/proc"), cgroups=Path("/sys/fs/cgroup")):
    """What the memory limit of this process's cgroup leaves: the limit, minus the group's
    usage, plus its reclaimable file pages (``inactive_file``); ``None`` without a limit.

    The group comes from ``/proc/self/cgroup``: on cgroup v1 the ``memory`` controller's line
    (``memory.limit_in_bytes``, ``memory.usage_in_bytes``, under ``cgroups/memory``), on v2 the
    ``0::`` line (``memory.max``, ``memory.current``). Containers and job schedulers set these;
    ``MemAvailable`` does not see them.
    """
    try:
        lines = (proc / "self" / "cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        relative = path.lstrip("/")
        if "memory" in controllers.split(","):
            left = _limit_left(cgroups / "memory" / relative, "memory.limit_in_bytes", "memory.usage_in_bytes")
        elif controllers == "":
            left = _limit_left(cgroups / relative, "memory.max", "memory.current")
        else:
            continue
        if left is not None:
            return left
    return None


def _limit_left(group, limit_file, usage_file):
    try:
        limit = (group / limit_file).read_text(encoding="ascii").strip()
        if limit == "max" or int(limit) >= UNLIMITED:
            return None
        used = int((group / usage_file).read_text(encoding="ascii"))
        stat = _key_values((group / "memory.stat").read_text(encoding="ascii"), " ")
        return max(0, int(limit) - used + int(stat.get("inactive_file", 0)))
    except (OSError, ValueError):
        return None


def _key_values(text, separator):
    return dict(line.split(separator, 1) for line in text.splitlines() if separator in line)


def limited_blas_threads(threads):
    """A context capping the BLAS (OpenBLAS, MKL, BLIS) and OpenMP thread pools at ``threads``
    through threadpoolctl, restored on exit; a no-op for ``None``."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def environment_number(name, default, *, unit, zero_means, environ=None):
    """The number of ``unit`` (0 or more, finite) that the environment variable ``name`` holds,
    ``default`` when it is unset or blank. Anything else raises a ConfigError that names the
    variable, what it must be and what it held: ``CORENN_BUCKET_MB must be a number of
    megabytes, 0 or more (0: ``zero_means``), got 'lots'``."""
    environ = os.environ if environ is None else environ
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a number of {unit}, 0 or more (0: {zero_means}), got {text[:40]!r}")
    return value
