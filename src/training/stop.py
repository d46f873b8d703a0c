"""Stop signals honoured in every stage of a run, not only between training steps.

SIGTERM (scancel, Kubernetes eviction, `timeout`), SIGUSR1 (SLURM's warning before the time limit) and SIGINT
(Ctrl-C) are caught for the whole run by one handler, installed by the run wrapper of every entry point.
Where there is nothing to save (data preparation, the sanity check, the test, the export, prediction) the
handler stops the run at once with `RunInterrupted`, naming the stage; while a fit is training or validating,
`RunGuard` (src/training/guard.py) defers the stop to the next safe point, saves a resumable checkpoint there
and then stops. Either way the run ends `interrupted` in result.json with the stage and exits 128 + signal;
a second Ctrl-C stops at once (exit 130).

Lightning installs its own SIGTERM handler inside every `trainer.fit/test` (it ends the process with exit
status 0, nothing saved); the guard puts this one back at the start of each loop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from src.utils.errors import RunInterrupted
from src.utils.log import get_logger

log = get_logger(__name__)
SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class StopSignals:
    """The run's stop requests: the first signal, the stage it arrived in, the checkpoint to resume from."""

    def __init__(self) -> None:
        self.reset()
        self.previous: dict[int, Any] = {}  # handlers before the run (a scheduler's, e.g. submitit's requeue)

    def reset(self) -> None:
        self.requested: int | None = None
        self.stage = "setup"
        self.deferred = False  # True: a fit loop stops at its next safe point (RunGuard); False: stop at once
        self.checkpoint: str | None = None  # the resumable checkpoint that exists now, named in the message

    @contextlib.contextmanager
    def watching(self) -> Iterator[StopSignals]:
        """Catch the stop signals for one run (a multirun job), then give the previous handlers back."""
        if threading.current_thread() is not threading.main_thread():  # a notebook's worker thread: cannot catch
            yield self
            return
        self.reset()
        self.previous = {s: signal.getsignal(s) for s in SIGNALS}
        self.install()
        try:
            yield self
        finally:
            for s, handler in self.previous.items():
                signal.signal(s, handler)
            self.reset()

    def install(self) -> None:
        """(Re)install the handler: Lightning replaces SIGTERM's at the start of each trainer.fit/test."""
        if self.previous and threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                signal.signal(s, self.handle)

    def handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise self.interrupted(signum, at_once=True)  # a second Ctrl-C: stop now, nothing saved
        self.requested = self.requested or signum
        if not self.deferred:
            raise self.interrupted(signum)
        log.warning("Received %s during %s: finishing this step, saving a checkpoint, then stopping "
                    "(Ctrl-C again to stop at once).", signal.Signals(signum).name, self.stage)  # fmt: skip

    def interrupted(self, signum: int, checkpoint: str | None = None, at_once: bool = False) -> RunInterrupted:
        """The exception that ends the run (the entry point's wrapper records it and exits 128 + signal)."""
        previous = self.previous.get(signum)  # a scheduler's handler is called once the run has recorded its state
        chained = previous if callable(previous) and previous is not signal.default_int_handler else None
        stage = f"{self.stage} (second Ctrl-C: stopped at once)" if at_once else self.stage
        return RunInterrupted(signum, checkpoint or self.checkpoint, previous_handler=chained, stage=stage)


STOP = StopSignals()  # signals are per process: one record per process
