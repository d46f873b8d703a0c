"""Finding, reading and exporting checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from transformers import PreTrainedTokenizerBase

from src.utils.log import get_logger

log = get_logger(__name__)


def resolve_ckpt_path(value: str | None, output_dir: str | Path) -> str | None:
    """`ckpt_path`: null; `last` (this run dir's checkpoints/last.ckpt); `auto` (last.ckpt if it exists,
    else a fresh start: for requeued cluster jobs); or a file. A missing file is an error with the fix."""
    if value is None:
        return None
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    if value == "auto":
        log.info("ckpt_path=auto: %s", f"resuming from {last}" if last.is_file() else "no last.ckpt, starting fresh")
        return str(last) if last.is_file() else None
    path = last if value == "last" else Path(value)
    if not path.is_file():
        hint = (
            "Resume in the interrupted run's directory: hydra.run.dir=<that run dir> ckpt_path=last"
            if value == "last"
            else "Pass the path of an existing .ckpt file."
        )
        raise FileNotFoundError(f"ckpt_path={value!r}: {path} does not exist. {hint}")
    return str(path)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely: tensors and plain containers only (no pickled code runs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise ValueError(f"ckpt_path={str(path)!r} is not a checkpoint this template can load safely: {err}") from err


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """Best checkpoint of the fit, else the last one, else None (fast_dev_run saves none)."""
    callbacks = trainer.checkpoint_callbacks
    for path in [c.best_model_path for c in callbacks] + [c.last_model_path for c in callbacks]:
        if path and Path(path).is_file():
            return path
    return None


def best_score(trainer: L.Trainer) -> float | None:
    """Best value of the monitored validation metric seen during fit (None without a monitoring checkpoint)."""
    for callback in trainer.checkpoint_callbacks:
        if callback.monitor and callback.best_model_score is not None:
            return float(callback.best_model_score)
    return None


def export_huggingface(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """save_pretrained of model (safetensors, with id2label) + tokenizer: loadable by `pipeline(...)`."""
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    log.info("Exported Hugging Face model to %s", out)
    return out
