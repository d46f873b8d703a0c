"""Start-up probe for benchmarks/bench_startup.py: a Lightning callback that stamps the wall-clock time of
the Trainer hooks up to the first training batch, writes them to a JSON file and ends the process there.

Injected into an unmodified `python src/train.py` run (of any version of the template) from the command line:

    PYTHONPATH=benchmarks python src/train.py ... +callbacks.probe._target_=startup_probe.FirstStep \\
        +callbacks.probe.out=/tmp/probe.json

`time.time()` (not `perf_counter`) because the benchmark compares it with the time the parent process took
just before starting the run. The process ends with `os._exit(0)` at the first batch: the training itself is
not what is measured, and a normal exit would add Lightning's teardown to every run.

Profiling the same path (cProfile cannot write its file after `os._exit`, so the probe dumps it):

    PYTHONPATH=benchmarks python -m startup_probe --profile run.prof src/train.py <overrides>
"""

from __future__ import annotations

import cProfile
import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L

# set by `python -m startup_probe --profile`: dumped by the probe before it ends the process
PROFILER: cProfile.Profile | None = None
PROFILE_OUT: str | None = None


class FirstStep(L.Callback):
    """Stamps start-up phases and exits at the first training batch.

    The phases tell where the data-dependent time goes: before `init` is config composition, data
    loading and everything `train.py` does before it builds the callbacks; `setup` -> `fit_start` is the
    model; `fit_start` -> `train_start` the sanity validation and any callback's fit-start work (the run
    report's data figures); `train_start` -> `first_step` the training dataloader (its batch sampler).
    """

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.stamps: dict[str, float] = {"init": time.time()}

    def _stamp(self, name: str) -> None:
        self.stamps.setdefault(name, time.time())

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._stamp("setup")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stamp("fit_start")

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stamp("sanity_start")

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stamp("sanity_end")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stamp("train_start")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stamp("epoch_start")

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._stamp("first_step")
        if PROFILER is not None and PROFILE_OUT:
            PROFILER.disable()
            PROFILER.dump_stats(PROFILE_OUT)
        src = sys.modules.get("src")
        record = {"stamps": self.stamps, "src": str(getattr(src, "__file__", None)), "pid": os.getpid()}
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(self.out)  # the parent never reads a half-written file
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def main(argv: list[str]) -> None:
    """`python -m startup_probe --profile OUT script.py [args...]`: run `script.py` as `__main__` under cProfile.

    The profiler lives in the imported `startup_probe` module (not in this `__main__` copy of it), which
    is the module Hydra imports the callback from, so the callback finds it.
    """
    if len(argv) < 3 or argv[0] != "--profile":
        raise SystemExit("usage: python -m startup_probe --profile OUT script.py [args...]")
    import startup_probe as probe

    probe.PROFILE_OUT, script = argv[1], argv[2]
    sys.argv = [script, *argv[3:]]
    probe.PROFILER = cProfile.Profile()
    probe.PROFILER.enable()
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
