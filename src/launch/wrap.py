"""The wrapper every entry point runs in: stop signals are caught for the whole run (src/training/stop.py), a
failure is logged with its run directory and recorded in result.json (status failed, or interrupted after a
signal, with the stage), loggers are closed."""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from typing import Any

from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from src.launch.ddp import fresh_distributed_state
from src.launch.sweep import in_multirun, write_result
from src.training.stop import STOP
from src.utils.errors import RunInterrupted, UserError, require_values
from src.utils.log import get_logger
from src.utils.schema import validate

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
        output_dir = cfg.paths.output_dir
        try:
            with fresh_distributed_state(), STOP.watching():
                require_values(cfg)  # mandatory `???` values named before any work, in every entry point
                validate(cfg)  # every key known, every value allowed (types were checked when composing)
                try:
                    return fn(cfg)
                except SIGTERMException:  # Lightning's own SIGTERM handler won a race with ours (exit 0 otherwise)
                    raise STOP.interrupted(STOP.requested or signal.SIGTERM) from None
        except RunInterrupted as err:  # the whole process was signalled: a sweep stops too
            how = "resume with ckpt_path=last (or auto)" if err.checkpoint else "rerun the command"
            log.warning("Run interrupted by signal %d during %s; %s in %s", err.signum, err.stage, how, output_dir)
            if rank_zero_only.rank == 0:
                write_result(
                    output_dir, status="interrupted", signal=err.signum, stage=err.stage, checkpoint=err.checkpoint
                )
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
