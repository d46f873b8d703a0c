"""Multirun bookkeeping: every job leaves a result.json; when the sweep ends, a summary table
(summary.csv and summary.md, best first) is written in the sweep directory.

    python src/train.py -m model=bert,distilbert,roberta model.optimizer.lr=2e-5,5e-5
    -> logs/classification/train-multirun/<time>/{0,1,...}/result.json and summary.csv, summary.md
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from src.utils.log import get_logger

log = get_logger(__name__)
RESULT = "result.json"


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def write_result(output_dir: str | Path, **fields: Any) -> None:
    """The job's line of the sweep summary (also written outside multiruns: it is cheap and useful)."""
    num = HydraConfig.get().job.get("num") if HydraConfig.initialized() else None
    record = {"job": num, "overrides": job_overrides(), **fields}
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    (Path(output_dir) / RESULT).write_text(json.dumps(record, indent=2, default=str))


def read_results(sweep_dir: str | Path) -> list[dict]:
    rows = [json.loads(p.read_text()) for p in Path(sweep_dir).glob(f"*/{RESULT}")]
    return sorted(rows, key=lambda r: (r.get("job") is None, r.get("job") or 0))


def _fmt(value: Any, column: str) -> str:
    if isinstance(value, float) and column != "seconds":
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)


def summarize(sweep_dir: str | Path, monitor: str, mode: str = "max") -> list[dict]:
    """Write summary.csv and summary.md (best `monitor` score first) and return the rows."""
    results = read_results(sweep_dir)
    if not results:
        return []
    # `task.monitor: auto` is resolved per job (it depends on the data): the jobs record the metric they used
    monitor = next((r["monitor"] for r in results if r.get("monitor")), monitor)
    shared = set.intersection(*(set(r["overrides"]) for r in results))  # shown once, not per row
    rows = []
    for r in results:
        rows.append(
            {
                "job": r.get("job"),
                "overrides": " ".join(o for o in r["overrides"] if o not in shared),
                "status": r.get("status"),
                f"best {monitor}": r.get("best_val"),
                monitor.replace("val/", "test/", 1): r.get("test"),
                "seconds": r.get("seconds"),
                "error": (r.get("error") or "")[:200],
            }
        )

    def rank(row: dict) -> float:
        value = row.get(f"best {monitor}")
        if not isinstance(value, (int, float)) or math.isnan(value):
            return math.inf
        return -value if mode == "max" else value

    rows.sort(key=rank)
    columns = list(rows[0])
    out = Path(sweep_dir)
    with (out / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"Sweep summary ({len(rows)} jobs; shared overrides: {' '.join(sorted(shared)) or 'none'})",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_fmt(row.get(c), c) for c in columns) + " |" for row in rows),
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return rows


class SweepSummary(Callback):
    """Hydra callback (configs/hydra/default.yaml): writes the summary when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if summarize(sweep_dir, config.task.monitor, config.task.monitor_mode):
            print((sweep_dir / "summary.md").read_text())
            log.info("Sweep summary: %s (and summary.csv)", sweep_dir / "summary.md")
