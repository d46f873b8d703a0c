"""The wrapper every entry point runs in: a failure is logged with its run directory and recorded in
result.json (status failed, or interrupted after a signal), loggers are closed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from src.launch.ddp import fresh_distributed_state
from src.launch.sweep import in_multirun, write_result
from src.utils.errors import RunInterrupted, UserError, require_values
from src.utils.log import get_logger

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
        output_dir = cfg.paths.get("output_dir")
        try:
            with fresh_distributed_state():
                require_values(cfg)  # mandatory `???` values named before any work, in every entry point
                return fn(cfg)
        except RunInterrupted as err:  # the whole process was signalled: a sweep stops too
            log.warning(
                "Run interrupted by signal %d; resume with ckpt_path=last (or auto) in %s", err.signum, output_dir
            )
            if rank_zero_only.rank == 0:
                write_result(output_dir, status="interrupted", signal=err.signum, checkpoint=err.checkpoint)
            if callable(err.previous_handler):  # e.g. submitit's requeue on SIGUSR1: the scheduler's turn
                close_loggers()
                err.previous_handler(err.signum, None)
            raise
        except Exception as err:
            # one line for the run's log file (the console shows the message, or the traceback of a bug)
            log.error("Run failed (%s: %s); outputs in %s", type(err).__name__, err, output_dir)
            if rank_zero_only.rank == 0:
                write_result(output_dir, status="failed", error=f"{type(err).__name__}: {err}")
            if not in_multirun():
                raise
            # a sweep goes on: this job is marked failed in the summary, its metric is NaN
            if not isinstance(err, UserError):
                log.exception("Job failed; the sweep continues.")
            return {}
        finally:
            close_loggers()

    return wrapped
