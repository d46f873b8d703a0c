"""Logging that speaks once: under DDP every rank runs the same code, only rank 0 should talk."""

from __future__ import annotations

import logging

from lightning.pytorch.utilities.rank_zero import rank_zero_only


class _RankZeroAdapter(logging.LoggerAdapter):
    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if rank_zero_only.rank == 0 and self.isEnabledFor(level):
            self.logger.log(level, msg, *args, **kwargs)


def get_logger(name: str) -> logging.LoggerAdapter:
    """A logger whose records are emitted on global rank 0 only."""
    return _RankZeroAdapter(logging.getLogger(name), {})


def quiet_libraries() -> None:
    """Silence per-load reports and progress bars of transformers; our own log lines say what matters."""
    import warnings

    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    # emitted by lightning's pytree helpers under torch >= 2.10; harmless
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
