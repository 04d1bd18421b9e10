"""Run ``corenn ARGS`` and SIGKILL this very process halfway through its N-th file write.

Usage: ``python kill_inside_write.py N corenn-args...``. Every record corenn writes goes
through ``corenn.files._write_all``; the N-th call writes the first half of its bytes to the
temporary file and then the process kills itself, exactly as a kill -9 or a power cut landing
inside a checkpoint write would. If the run makes fewer than N writes it ends normally (exit 0)
and prints how many it made on stderr, so a test can tell that no kill happened.
"""

import os
import signal
import sys

import corenn.files
from corenn.cli import main

kill_at = int(sys.argv[1])
writes = 0
write_all = corenn.files._write_all


def write_then_die(fd, data):
    global writes
    writes += 1
    if writes == kill_at:
        os.write(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)
    write_all(fd, data)


corenn.files._write_all = write_then_die
status = main(sys.argv[2:])
print(f"writes: {writes}", file=sys.stderr)
sys.exit(status)
