"""Ctrl-C and SIGTERM during training, held until the trainer's state is whole."""

import contextlib
import signal
import threading

from corenn.errors import Terminated


class DeferredInterrupt:
    """Holds a Ctrl-C (or a SIGTERM) until the trainer's state is whole, then raises
    KeyboardInterrupt (:class:`corenn.errors.Terminated` for SIGTERM).

    An update touches every parameter and the optimizer's state one after another; stopping
    in the middle would leave a state no uninterrupted run ever had, and a checkpoint of it
    would not resume bit for bit. So the first Ctrl-C only sets a flag, which :meth:`check`
    turns into KeyboardInterrupt at the next batch boundary (milliseconds later). A second
    Ctrl-C stops at once. SIGTERM, what ``kill`` and job schedulers send, is handled the same
    way, so a run they stop keeps a checkpoint and says how to continue. Only the main thread
    can own signal handlers; elsewhere, or for a signal the program gave its own handler,
    nothing is deferred.
    """

    def __init__(self):
        self.requested = None  # the exception type to raise at the next check, once a signal came
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        stop = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        if self.requested is not None:
            raise stop
        self.requested = stop

    def check(self):
        """Raise KeyboardInterrupt (or Terminated) now if a signal came in since the last check."""
        if self.requested is not None:
            stop, self.requested = self.requested, None
            raise stop

    def __exit__(self, exc_type, exc_value, traceback):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        if exc_type is None:
            self.check()  # a signal after the last check is still honoured

    @staticmethod
    @contextlib.contextmanager
    def ignored():
        """Ignore Ctrl-C and SIGTERM while the block runs (saving a checkpoint after one, and
        saying how to continue): a second press must not cut that short."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
