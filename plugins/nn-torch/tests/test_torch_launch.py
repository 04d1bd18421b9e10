"""The one line ``corenn train --nproc N`` prints when torchrun's group fails
(:func:`corenn_torch.launch._failure_line`), for the ways ranks end."""

import signal
from types import SimpleNamespace

from corenn_torch.launch import _device_problem, _failure_line, _failure_lines


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


def reported(**messages):
    """Failures whose ranks left corenn's one-line errors in torchrun's error files."""
    return SimpleNamespace(
        failures={int(rank[1:]): SimpleNamespace(exitcode=1, message=text) for rank, text in messages.items()}
    )


def test_an_error_every_rank_left_is_said_once():
    """Before: every rank printed the error it met, so a missing data file was said once per rank."""
    line = "corenn train: error: CSV file missing.csv does not exist"
    assert _failure_lines(reported(r0=line, r1=line, r2=line)) == [line]


def test_distinct_errors_are_said_in_rank_order_and_torchs_own_messages_ignored():
    first = "corenn train: error: rank 0: a collective with the other ranks failed (Connection closed by peer)"
    second = "corenn train: error: device 'cuda:1': torch sees 1 CUDA device(s)"
    torch_message = "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html"
    assert _failure_lines(reported(r1=second, r0=first, r2=torch_message)) == [first, second]
    assert _failure_lines(reported(r0=torch_message)) == []  # status 1 without a line: the rank printed it


def test_the_number_of_processes_is_checked_against_the_gpus():
    assert _device_problem("cuda", 2, gpus=2, cpus=16) is None
    assert _device_problem("cuda", 4, gpus=2, cpus=16) == (
        "--nproc 4 trains on GPUs with NCCL, one process per GPU, but torch sees 2 GPUs here; use at most --nproc 2"
    )
    assert (
        _device_problem("cuda", 2, gpus=0, cpus=16)
        == "device 'cuda': torch sees no GPU here; use --device cpu (gloo, one process per CPU)"
    )
    assert _device_problem("auto", 2, gpus=0, cpus=2) is None  # auto without a GPU: processes on CPUs
    assert "but this machine gives corenn 2" in _device_problem("auto", 3, gpus=0, cpus=2)
    assert "names one GPU, which 2 processes cannot share" in _device_problem("cuda:1", 2, gpus=2, cpus=16)
    assert _device_problem("cuda:1", 1, gpus=2, cpus=16) is None
