"""The wrapper every entry point runs in: a failure is logged with its run directory, loggers are closed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from src.utils.ddp import fresh_distributed_state
from src.utils.log import get_logger
from src.utils.sweep import in_multirun, write_result

log = get_logger(__name__)


def close_loggers() -> None:
    """Finish the W&B run if one is open (also after a crash: otherwise its files stay incomplete)."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()


def task_wrapper(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    @functools.wraps(fn)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            with fresh_distributed_state():
                return fn(cfg)
        except Exception as err:
            # one line for the run's log file; Hydra prints the traceback
            log.error("Run failed (%s: %s); outputs in %s", type(err).__name__, err, cfg.paths.get("output_dir"))
            if not in_multirun():
                raise
            # a sweep goes on: this job is marked failed in the summary, its metric is NaN
            log.exception("Job failed; the sweep continues.")
            write_result(cfg.paths.output_dir, status="failed", error=f"{type(err).__name__}: {err}")
            return {}
        finally:
            close_loggers()

    return wrapped
