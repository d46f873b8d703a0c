"""Pruning of bad sweep jobs, for any sweeper (Optuna, grid) and launcher.

Optuna's MedianPruner rule: after `n_warmup_rounds` validations, a job whose best score so far is
worse than the median score of finished jobs at the same validation round stops early. Jobs share
their learning curves through files in the sweep directory (`<job dir>/pruning_curve.json`), so no
database or sweeper support is needed. Inactive outside multiruns.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig

from src.launch.sweep import RESULT, in_multirun
from src.utils.log import get_logger

log = get_logger(__name__)
CURVE = "pruning_curve.json"


class MedianPruning(L.Callback):
    def __init__(self, monitor: str, mode: str = "max", n_startup_jobs: int = 3, n_warmup_rounds: int = 1) -> None:
        self.monitor, self.mode = monitor, mode
        self.n_startup_jobs, self.n_warmup_rounds = n_startup_jobs, n_warmup_rounds
        self.curve: list[float] = []
        self.pruned = False  # read by train.py: the job's status in the sweep summary

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b

    def finished_curves(self, sweep_dir: Path, own_dir: Path) -> list[list[float]]:
        """Curves of the jobs that ended (result.json written, not failed), this one excluded."""
        curves = []
        for curve in sweep_dir.glob(f"*/{CURVE}"):
            result = curve.parent / RESULT
            if curve.parent != own_dir and result.exists() and json.loads(result.read_text()).get("status") != "failed":
                curves.append(json.loads(curve.read_text()))
        return curves

    def should_prune(self, others: list[list[float]]) -> tuple[bool, float | None]:
        round_ = len(self.curve) - 1
        at_round = [c[round_] for c in others if len(c) > round_]
        if round_ < self.n_warmup_rounds or len(at_round) < self.n_startup_jobs:
            return False, None
        median = statistics.median(at_round)
        best = max(self.curve) if self.mode == "max" else min(self.curve)
        return self._better(median, best), median

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not in_multirun() or self.monitor not in trainer.callback_metrics:
            return
        self.curve.append(float(trainer.callback_metrics[self.monitor]))
        own_dir = Path(HydraConfig.get().runtime.output_dir)
        prune, median = False, None
        if trainer.is_global_zero:
            (own_dir / CURVE).write_text(json.dumps(self.curve))
            prune, median = self.should_prune(self.finished_curves(Path(HydraConfig.get().sweep.dir), own_dir))
        if trainer.strategy.broadcast(prune):  # every DDP rank takes rank 0's decision
            self.pruned = trainer.should_stop = True
            log.info("Pruned at validation %d: best %s %.4f is worse than the median %.4f of finished jobs.",
                     len(self.curve), self.monitor, self.curve[-1], median)  # fmt: skip
