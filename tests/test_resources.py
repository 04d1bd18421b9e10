"""The memory the trainer plans with (corenn.machine.host_memory_available), read from
fake /proc and /sys/fs/cgroup trees: MemAvailable plus SwapFree, capped by a cgroup v1 or v2
memory limit. The refusals built on it are in tests/faults/test_too_big_for_the_machine.py."""

import pytest

from corenn.machine import cgroup_memory_left, host_memory_available

MEMINFO = "MemTotal:       4000 kB\nMemFree:         100 kB\nMemAvailable:   1000 kB\nSwapTotal:       800 kB\nSwapFree:        500 kB\n"
V1_UNLIMITED = "9223372036854771712"


def machine(tmp_path, cgroup_lines, files=None, meminfo=MEMINFO):
    """``(proc, cgroups)``: a /proc with ``meminfo`` and ``self/cgroup``, and a cgroup tree
    holding ``files`` (relative path: content)."""
    proc, cgroups = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    cgroups.mkdir()
    if meminfo is not None:
        (proc / "meminfo").write_text(meminfo, encoding="ascii")
    (proc / "self" / "cgroup").write_text("".join(line + "\n" for line in cgroup_lines), encoding="ascii")
    for relative, content in (files or {}).items():
        (cgroups / relative).parent.mkdir(parents=True, exist_ok=True)
        (cgroups / relative).write_text(content, encoding="ascii")
    return proc, cgroups


def test_available_memory_and_free_swap_without_a_cgroup_limit(tmp_path):
    """(1000 + 500) KiB: swap counts, since the kernel kills only once it is spent too."""
    proc, cgroups = machine(tmp_path, ["0::/"])
    assert cgroup_memory_left(proc, cgroups) is None
    assert host_memory_available(proc, cgroups) == 1_536_000


def test_a_cgroup_v2_limit_caps_it(tmp_path):
    """memory.max 1,000,000 - memory.current 600,000 + inactive_file 100,000 = 500,000 bytes."""
    files = {
        "job/memory.max": "1000000\n",
        "job/memory.current": "600000\n",
        "job/memory.stat": "anon 400000\nfile 200000\ninactive_file 100000\n",
    }
    proc, cgroups = machine(tmp_path, ["0::/job"], files)
    assert cgroup_memory_left(proc, cgroups) == 500_000
    assert host_memory_available(proc, cgroups) == 500_000


def test_a_cgroup_v2_without_a_limit_leaves_meminfo(tmp_path):
    files = {"job/memory.max": "max\n", "job/memory.current": "600000\n", "job/memory.stat": "inactive_file 0\n"}
    proc, cgroups = machine(tmp_path, ["0::/job"], files)
    assert host_memory_available(proc, cgroups) == 1_536_000


def test_a_cgroup_v1_memory_limit_caps_it(tmp_path):
    """The memory controller's line (a hybrid machine also has a ``0::`` line):
    1,000,000 - 900,000 + 50,000 = 150,000 bytes."""
    files = {
        "memory/process_api/abc/memory.limit_in_bytes": "1000000\n",
        "memory/process_api/abc/memory.usage_in_bytes": "900000\n",
        "memory/process_api/abc/memory.stat": "cache 60000\ninactive_file 50000\ntotal_inactive_file 50000\n",
    }
    proc, cgroups = machine(tmp_path, ["9:name=systemd:/", "4:memory:/process_api/abc", "0::/"], files)
    assert host_memory_available(proc, cgroups) == 150_000


def test_a_cgroup_v1_unlimited_group_leaves_meminfo(tmp_path):
    """This development machine's case: a memory group whose limit is the kernel's 'unlimited'."""
    files = {
        "memory/process_api/abc/memory.limit_in_bytes": V1_UNLIMITED + "\n",
        "memory/process_api/abc/memory.usage_in_bytes": "900000\n",
        "memory/process_api/abc/memory.stat": "inactive_file 50000\n",
    }
    proc, cgroups = machine(tmp_path, ["4:memory:/process_api/abc", "0::/"], files)
    assert host_memory_available(proc, cgroups) == 1_536_000


def test_a_limit_below_what_the_group_uses_leaves_nothing(tmp_path):
    files = {"job/memory.max": "1000\n", "job/memory.current": "5000\n", "job/memory.stat": "inactive_file 0\n"}
    proc, cgroups = machine(tmp_path, ["0::/job"], files)
    assert host_memory_available(proc, cgroups) == 0


@pytest.mark.parametrize(
    "meminfo",
    [None, "MemTotal: 4000 kB\n", "MemAvailable: lots\n"],
    ids=["no /proc/meminfo", "no MemAvailable (kernels before 3.14)", "unreadable number"],
)
def test_without_a_readable_meminfo_the_memory_is_unknown(tmp_path, meminfo):
    """Unknown memory means no refusal (see corenn.run.resources)."""
    proc, cgroups = machine(tmp_path, ["0::/"], meminfo=meminfo)
    assert host_memory_available(proc, cgroups) is None


def test_without_swap_lines_only_available_memory_counts(tmp_path):
    proc, cgroups = machine(tmp_path, ["0::/"], meminfo="MemAvailable:   1000 kB\n")
    assert host_memory_available(proc, cgroups) == 1_024_000
