"""A public dataset's published metrics (`data.benchmark`), read off the run's own metrics, so a result can be
compared with published tables as they report it (GLUE MRPC: the positive class's F1; SQuAD: EM and F1 x 100)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from src.utils.log import get_logger

log = get_logger(__name__)


def benchmark_scores(benchmark: Any, metrics: Mapping[str, float]) -> dict[str, float]:
    """{published name: value at the published scale} for the metrics the run logged; a name whose metric the
    run did not log is said in the log (with what was logged), not made up."""
    if benchmark is None or not benchmark.name or not benchmark.metrics:
        return {}
    out, missing = {}, []
    for published, logged in benchmark.metrics.items():
        if logged in metrics:
            out[published] = float(metrics[logged]) * benchmark.scale
        else:
            missing.append(logged)
    if missing:
        log.warning("data.benchmark %s: %s not logged by this run (logged: %s).", benchmark.name, missing,
                    sorted(k for k in metrics if k.startswith(("test/", "val/"))))  # fmt: skip
    return out
