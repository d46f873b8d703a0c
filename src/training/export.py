"""The module whose weights a run exports: the tested (best) checkpoint, read back whole on CPU."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L

from src.models.base import EncoderModule
from src.utils.schema import plain


def consolidated(path: str, scratch: Path) -> str:
    """A checkpoint as one file: a DeepSpeed checkpoint directory is merged into fp32 weights (needs deepspeed)."""
    if Path(path).is_file():
        return path
    from lightning.pytorch.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict

    out = scratch / "consolidated.ckpt"
    convert_zero_checkpoint_to_fp32_state_dict(path, str(out))
    return str(out)


def exported_module(
    load_module: Callable[..., EncoderModule],
    trainer: L.Trainer,
    module: EncoderModule,
    best: str | None,
    model_cfg: Any,
) -> EncoderModule | None:
    """On rank 0, the best checkpoint's module on CPU (uncompiled), read by `load_module` (the task's
    `Task.load_module`); without a checkpoint (fast_dev_run), the final weights gathered whole by the strategy.
    None on other ranks. Every rank must call this: under FSDP, gathering the weights is collective."""
    model = {**plain(model_cfg), "compile": False}  # the current command decides trust_remote_code
    if best:
        if not trainer.is_global_zero:
            return None
        with tempfile.TemporaryDirectory() as scratch:
            return load_module(consolidated(best, Path(scratch)), model=model)
    state = trainer.strategy.lightning_module_state_dict()  # full weights, gathered under FSDP
    if not trainer.is_global_zero:
        return None
    fresh = type(module)(**{**dict(module.hparams), "model": model})
    fresh.load_state_dict(state)
    return fresh
