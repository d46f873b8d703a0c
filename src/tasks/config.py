"""The keys of the `task` group every task has; a task with options of its own extends `TaskConfig` in its
folder's config.py (classification: `threshold`), which also declares its data keys."""

from __future__ import annotations

from dataclasses import dataclass

from src.utils.schema import key


@dataclass
class TaskConfig:
    """`task.*` keys of every task."""

    name: str = key(help="the registered task (src/tasks/__init__.py) whose data module, module and reports run")
    monitor: str = key(
        "auto",
        "the val/ metric that picks the best checkpoint, stops early and ranks sweeps; auto: "
        "the task's own (e.g. val/acc)",
        safe=False,
    )
    monitor_mode: str = key(
        "max", "whether a larger (max) or smaller (min) monitored value is better", choices=("max", "min")
    )
