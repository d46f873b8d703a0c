"""Optimizer and learning-rate schedule shared by every task module."""

from __future__ import annotations

import math
from collections.abc import Mapping

import lightning as L
import torch
from hydra.utils import instantiate
from transformers import get_scheduler


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: biases and LayerNorm weights (every 1-d parameter) get no weight decay."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def warmup_schedule(
    optimizer: torch.optim.Optimizer,
    num_training_steps: int,
    name: str = "linear",
    warmup_ratio: float = 0.0,
    warmup_steps: int | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warmup then decay (`name`: linear, cosine, constant_with_warmup, ... as in transformers.get_scheduler).

    `warmup_steps`, when set, wins over `warmup_ratio` (a fraction of all optimizer steps).
    """
    warmup = warmup_steps if warmup_steps is not None else math.ceil(warmup_ratio * num_training_steps)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=num_training_steps)


def training_steps(trainer: L.Trainer, batches_per_epoch: int) -> int:
    """Optimizer steps the run will take, computed without touching the train dataloader.

    `trainer.estimated_stepping_batches` would build the dataloader iterator inside
    configure_optimizers, before FSDP/DeepSpeed restore a checkpoint's data position.
    """
    limit = trainer.limit_train_batches
    batches = min(batches_per_epoch, int(limit)) if isinstance(limit, int) else int(batches_per_epoch * limit)
    per_epoch = max(1, math.ceil(batches / trainer.accumulate_grad_batches))
    epochs = trainer.max_epochs if trainer.max_epochs not in (None, -1) else None
    by_epochs = per_epoch * epochs if epochs is not None else None
    by_steps = trainer.max_steps if trainer.max_steps not in (None, -1) else None
    candidates = [n for n in (by_epochs, by_steps) if n is not None]
    if not candidates:
        raise ValueError("Set trainer.max_epochs or trainer.max_steps: the LR schedule needs a length.")
    return min(candidates)


def configure_optimizers(
    module: L.LightningModule, optimizer: Mapping, scheduler: Mapping | None, batches_per_epoch: int
) -> dict:
    """AdamW-style optimizer from config (`_partial_`), with a per-step warmup/decay schedule."""
    opt_cfg = dict(optimizer)
    make_optimizer = instantiate(opt_cfg)
    opt = make_optimizer(param_groups(module, float(opt_cfg.get("weight_decay", 0.0))))
    if not scheduler:
        return {"optimizer": opt}
    total = training_steps(module.trainer, batches_per_epoch)
    sched = instantiate(dict(scheduler))(opt, num_training_steps=total)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
