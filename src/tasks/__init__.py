"""The task registry: `task.name` in the config -> the Task object that owns everything task-specific.

A task is a folder `src/tasks/<name>/` whose `__init__.py` defines `TASK`. Adding one is a new folder,
its configs (configs/task/<name>.yaml, a data config) and one line below; see docs/adding_a_task.md.
Entries are import paths, so running one task never imports the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from src.utils.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from transformers import PretrainedConfig

    from src.inference.predictor import Predictor
    from src.tasks.base import Task

REGISTRY: dict[str, str] = {
    "classification": "src.tasks.classification:TASK",
    "ner": "src.tasks.ner:TASK",
    "tagging": "src.tasks.tagging:TASK",
    "question_answering": "src.tasks.question_answering:TASK",
    "multiple_choice": "src.tasks.multiple_choice:TASK",
}


def get_task(name: str) -> Task:
    """The registered task called `name` (the config's `task.name`, a checkpoint's or an exported model's)."""
    if name not in REGISTRY:
        raise ConfigError(
            f"task.name={name!r} is not a registered task ({', '.join(REGISTRY)}). Fix: task=<one of them>, "
            "or register yours in src/tasks/__init__.py (docs/adding_a_task.md)."
        )
    module, attribute = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def task_names() -> list[str]:
    return list(REGISTRY)


def task_for_model(config: PretrainedConfig, where: str) -> Task:
    """The task an exported model belongs to: the name train.py stored in config.json, else the first task
    whose `matches(config)` accepts it (a model exported by another tool)."""
    stored = (getattr(config, "finetune", None) or {}).get("task")
    if stored:
        return get_task(stored)
    for name in REGISTRY:
        task = get_task(name)
        if task.matches(config):
            return task
    arch = (config.architectures or ["(none)"])[0]
    raise ConfigError(
        f"{where}: architecture {arch} fits none of the tasks {task_names()}. Fix: pass the hf_model directory "
        "of a training run (it records its task), or a model with a classification head."
    )


def load_predictor(model_dir: str | Path, **kwargs: object) -> Predictor:
    """A Predictor for an exported model directory, with the task its config.json names (see task_for_model);
    `kwargs` go to Predictor (backend, device, onnx_path, threads, settings)."""
    from src.inference.predictor import Predictor, load_config

    config = load_config(str(model_dir))
    return Predictor(model_dir, task_for_model(config, f"model_dir={str(model_dir)!r}"), config=config, **kwargs)
