"""Lightning's CSVLogger, except that a resumed run keeps the interrupted run's rows.

Lightning's CSV writer deletes `metrics.csv` when it starts in a directory that has one, so resuming with
`ckpt_path=last` wiped the history of the interrupted run. Here, when resuming, the old rows are kept;
the rows logged after the checkpoint's step (work that was lost and is now done again) are dropped
when the resumed run logs its first row, so every step appears once.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only


class ResumableCSVLogger(CSVLogger):
    """`resume_from`: the run's ckpt_path (null for a fresh run, which starts a new metrics.csv as usual)."""

    def __init__(self, *args: Any, resume_from: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: list[dict[str, str]] | None = None
        path = os.path.join(self.log_dir, "metrics.csv")
        if resume_from and rank_zero_only.rank == 0 and os.path.isfile(path):
            with open(path, newline="") as f:
                self._kept = list(csv.DictReader(f))

    @property
    def experiment(self) -> Any:
        writer = super().experiment  # creating the writer deletes metrics.csv ...
        if self._kept is not None and not os.path.isfile(writer.metrics_file_path):
            self._restore(writer, self._kept)  # ... so the kept rows are written back at once
        return writer

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self._kept is not None and step is not None:  # the first row after the resume: drop the lost work
            kept = [r for r in self._kept if r.get("step", "") == "" or int(r["step"]) < step]
            self._kept = None
            self._restore(self.experiment, kept)
        super().log_metrics(metrics, step)

    @staticmethod
    def _restore(writer: Any, rows: list[dict[str, str]]) -> None:
        keys = sorted({k for row in rows for k in row})
        writer.metrics_keys = keys  # the header the writer extends when new metrics appear
        with open(writer.metrics_file_path, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            out.writerows(rows)
