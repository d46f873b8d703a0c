"""Optimizer, learning-rate schedule and gradient clipping shared by every task module."""

from __future__ import annotations

import math
from collections.abc import Mapping

import lightning as L
import torch
from hydra.utils import instantiate
from transformers import get_scheduler

from src.utils.errors import ConfigError


def no_decay_names(model: torch.nn.Module) -> set[str]:
    """Names of the parameters that get no weight decay: biases and the weights of normalisation layers
    (LayerNorm, RMSNorm, ...: any module whose class name says Norm).

    Decided by module and name, not by `ndim`: FSDP presents parameters as flat 1-D shards, so a shape
    test would silently turn decay off for every matrix.
    """
    names = set()
    for prefix, module in model.named_modules():
        norm = "norm" in type(module).__name__.lower()
        for name, _ in module.named_parameters(recurse=False):
            if norm or name == "bias":
                names.add(f"{prefix}.{name}" if prefix else name)
    return names


def param_groups(model: torch.nn.Module) -> list[dict]:
    """Two groups: matrices and embeddings with the optimizer's own weight decay (`model.optimizer.weight_decay`),
    biases and norm weights without."""
    exempt = no_decay_names(model)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name in exempt else decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


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
        raise ConfigError("Set trainer.max_epochs or trainer.max_steps: the LR schedule needs a length.")
    return min(candidates)


def configure_optimizers(
    module: L.LightningModule, optimizer: Mapping | None, scheduler: Mapping | None, batches_per_epoch: int
) -> dict:
    """AdamW-style optimizer from config (`_partial_`), with a per-step warmup/decay schedule."""
    if optimizer is None:
        raise ConfigError("model.optimizer is null: training needs one. Fix: model/optimizer=adamw (the default).")
    opt = instantiate(dict(optimizer))(param_groups(module))
    if not scheduler:
        return {"optimizer": opt}
    total = training_steps(module.trainer, batches_per_epoch)
    sched = instantiate(dict(scheduler))(opt, num_training_steps=total)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def clip_gradients(
    module: L.LightningModule, optimizer: torch.optim.Optimizer, value: float | None, algorithm: str | None
) -> torch.Tensor | None:
    """Clip the global gradient norm to `value` on any strategy; returns the norm before clipping (or None).

    Lightning's FSDP precision plugin refuses norm clipping (the norm of a sharded model needs a collective);
    an FSDP-wrapped model has its own `clip_grad_norm_` that computes it across shards. Value clipping
    and the other strategies go through Lightning.
    """
    if not value:
        return None
    wrapped = module.trainer.strategy.model
    if algorithm in (None, "norm") and hasattr(wrapped, "clip_grad_norm_"):  # FSDP (FullyShardedDataParallel)
        return wrapped.clip_grad_norm_(value)
    module.clip_gradients(optimizer, gradient_clip_val=value, gradient_clip_algorithm=algorithm)
    return None
