"""The one line ``corenn train --nproc N`` prints when torchrun's group fails
(:func:`corenn_torch.launch._failure_line`), for the ways ranks end."""

import signal
from types import SimpleNamespace

from corenn_torch.launch import _failure_line


def failed(**codes):
    """A stand-in for torch's ChildFailedError: ``failures`` maps each rank to its exit code."""
    return SimpleNamespace(failures={int(rank[1:]): SimpleNamespace(exitcode=code) for rank, code in codes.items()})


def test_a_rank_with_corenns_own_error_already_said_it():
    assert _failure_line(failed(r0=-signal.SIGTERM, r1=1)) is None


def test_the_failed_rank_comes_first_and_the_stopped_ones_are_named_as_such():
    line = _failure_line(failed(r0=-signal.SIGTERM, r1=-signal.SIGKILL, r2=-signal.SIGTERM))
    assert line == (
        "corenn train: error: rank 1 was killed by SIGKILL, so torchrun stopped ranks 0, 2 "
        "(any output of the failed rank is above)"
    )


def test_every_rank_terminated_from_outside():
    line = _failure_line(failed(r0=-signal.SIGTERM, r1=-signal.SIGTERM))
    assert line == (
        "corenn train: error: rank 0 was killed by SIGTERM; rank 1 was killed by SIGTERM "
        "(any output of the failed rank is above)"
    )


def test_an_unknown_signal_and_an_empty_failure_list():
    assert "rank 0 was killed by signal 99" in _failure_line(failed(r0=-99))
    assert "the process group failed" in _failure_line(SimpleNamespace(failures={}))
