"""Leaf objects from config groups: loggers and callbacks are built from `_target_`, nothing else."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """One object per entry of a group such as `logger` or `callbacks`; an entry set to null is dropped,
    so `logger=none` gives [] and `callbacks.early_stopping=null` removes early stopping."""
    return [instantiate(entry) for entry in (cfg or {}).values() if entry is not None and "_target_" in entry]
