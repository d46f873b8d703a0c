"""Hardware settings of a run: precision `auto`, TF32 matmuls, and the Trainer's keyword arguments."""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from src.utils.errors import ConfigError
from src.utils.log import get_logger

log = get_logger(__name__)


def uses_cuda(accelerator: str | None) -> bool:
    """Whether the Trainer will run on CUDA (`auto` picks a GPU when one is visible)."""
    return accelerator in ("gpu", "cuda") or (accelerator in (None, "auto") and torch.cuda.is_available())


def resolve_precision(precision: Any, accelerator: str | None) -> Any:
    """`auto`: bf16 autocast on GPUs that support it (Ampere and newer), fp16 with loss scaling on older
    ones, fp32 on CPU. Any other value is Lightning's own."""
    if precision != "auto":
        return precision
    if not uses_cuda(accelerator):
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "16-mixed"


def configure_runtime(cfg: DictConfig) -> None:
    """TF32 for fp32 matmuls on CUDA (`float32_matmul_precision: high`): fp32 runs (and fp32 parts of mixed
    precision) use tensor cores. Left alone on CPU, where it could change results between machines."""
    if uses_cuda(cfg.trainer.accelerator):
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """The `trainer` group as Trainer kwargs: a value with `_target_` (an FSDP strategy) is built, and
    precision `auto` is resolved for the device."""
    kwargs = {k: instantiate(v) if isinstance(v, DictConfig) and "_target_" in v else v for k, v in cfg.items()}
    kwargs["precision"] = resolve_precision(kwargs["precision"], kwargs["accelerator"])
    log.info("Precision: %s.", kwargs["precision"])
    return kwargs


def check_training_length(trainer: Any) -> None:
    """Refuse trainer settings that train nothing (an untrained head would be tested and exported as `ok`) or
    never end (the LR schedule needs a length), before any work."""
    epochs, steps, limit = trainer.max_epochs, trainer.max_steps, trainer.limit_train_batches
    nothing = [f"trainer.{k}={v}" for k, v in (("max_epochs", epochs), ("max_steps", steps)) if v == 0]
    if limit is not None and float(limit) == 0:
        nothing.append(f"trainer.limit_train_batches={limit}")
    if nothing:
        raise ConfigError(
            f"{', '.join(nothing)} trains nothing: the untrained head would be tested and exported. Fix: "
            "trainer.max_epochs>=1 (or trainer.max_steps>=1), or train=false ckpt_path=<checkpoint> to test one."
        )
    if epochs == -1 and steps == -1 and not trainer.max_time:
        raise ConfigError(
            "trainer.max_epochs=-1 and trainer.max_steps=-1: the run would never end and the learning-rate schedule "
            "needs a length. Fix: trainer.max_epochs=<n> or trainer.max_steps=<n>."
        )
