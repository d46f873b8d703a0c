"""Leaf objects from config groups: loggers and callbacks are built from `_target_`, nothing else."""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig


def instantiate_group(cfg: DictConfig | None, **runtime: Any) -> list[Any]:
    """One object per entry of a group such as `logger` or `callbacks`; an entry set to null is dropped,
    so `logger=none` gives [] and `callbacks.early_stopping=null` removes early stopping.

    `runtime` holds what only the run knows (the run's Task object): an entry whose class or function takes
    an argument of that name gets it, the others are built from their config alone.
    """
    objects = []
    for entry in (cfg or {}).values():
        if entry is None or "_target_" not in entry:
            continue
        params = inspect.signature(get_object(entry["_target_"])).parameters
        objects.append(instantiate(entry, **{k: v for k, v in runtime.items() if k in params}))
    return objects
