"""Finding, writing, reading and exporting checkpoints.

A checkpoint is a file (`*.ckpt`) or, with DeepSpeed, a directory of shards: every function here takes
both. Writes are atomic (temporary file, fsync, rename): an interrupted write leaves the previous
checkpoint intact, never a truncated one. A corrupt `last.ckpt` (a copy cut short, a full disk of
another tool) makes `ckpt_path=last|auto` fall back to the newest loadable checkpoint, with a warning.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from transformers import PreTrainedTokenizerBase

from src.utils.errors import LoadError, MissingError, RunFailed
from src.utils.log import get_logger

log = get_logger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into `<name>.tmp-<pid>` in the same directory, fsync, then rename over the target.

    Also counts the seconds spent writing (`seconds`), which the throughput figures leave out. A failed
    write (disk full) removes its temporary file and raises RunFailed naming the path; the previous
    checkpoint of that name is untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        start = time.perf_counter()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise RunFailed(
                f"Could not write checkpoint {path}: {err.strerror or err}. The previous checkpoint (if any) is "
                "intact. Fix: free disk space or point hydra.run.dir / paths.log_dir to a disk with room, then resume."
            ) from err
        finally:
            self.seconds += time.perf_counter() - start


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose state survives a moved or copied run directory.

    Lightning keeps only `best_model_path` when the directory a checkpoint records differs from the current
    one: the best score is forgotten (the resumed run tests and exports a worse model), and the next save goes
    to `last-v1.ckpt` while `last.ckpt` stays behind (the next resume goes back in time). Here the recorded
    paths are re-anchored to the current directory first, so the run goes on as if it had never moved; a
    checkpoint the run still needs but that was not copied along stops the resume with the fix.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved, here = state_dict.get("dirpath"), self.dirpath
        if saved and here and os.path.realpath(saved) != os.path.realpath(here):
            state_dict = reanchor(state_dict, saved, here)
        super().load_state_dict(state_dict)


def reanchor(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A ModelCheckpoint state with every path under `old` moved under `new`; each must exist there."""

    def moved(path: str) -> str:
        if not path or not Path(path).is_relative_to(old):
            return path
        target = str(Path(new) / Path(path).relative_to(old))
        if not Path(target).exists():
            raise MissingError(
                f"The run directory moved ({old} -> {new}) but {Path(path).name}, which the run still tracks, is "
                f"not in {new}. Fix: copy the whole checkpoints directory along, or start a new run from this "
                "checkpoint's weights."
            )
        return target

    out = dict(state, dirpath=new)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        out[key] = moved(state.get(key) or "")
    out["best_k_models"] = {moved(k): v for k, v in (state.get("best_k_models") or {}).items()}
    log.info("Run directory moved: checkpoint paths re-anchored from %s to %s.", old, new)
    return out


def checkpoint_error(path: Path) -> str | None:
    """Why `path` cannot be loaded (None if it can): cheap, the file is memory-mapped, not read."""
    if path.is_dir():  # DeepSpeed: a directory with a `latest` tag or shard files
        return None if any(path.rglob("*.pt")) else "a directory without checkpoint shards"
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated zip, not a checkpoint, pickled code refused: all unloadable here
        return f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else 'unreadable'}"
    return None


def loadable_fallback(directory: Path, exclude: Path | None = None) -> Path | None:
    """The newest loadable checkpoint of `directory` other than `exclude`."""
    candidates = sorted(
        (p for p in directory.glob("*.ckpt") if p != exclude and ".tmp-" not in p.name),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    return next((p for p in candidates if checkpoint_error(p) is None), None)


def resolve_ckpt_path(value: str | None, output_dir: str | Path) -> str | None:
    """`ckpt_path`: null; `last` (this run dir's checkpoints/last.ckpt); `auto` (last.ckpt if it exists,
    else a fresh start: for requeued cluster jobs); or a path. A missing path is an error with the fix; a
    corrupt last.ckpt falls back to the newest loadable checkpoint of the run."""
    if value is None:
        return None
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    path = last if value in ("last", "auto") else Path(value)
    if not path.exists():
        if value == "auto":
            log.info("ckpt_path=auto: no %s, starting fresh.", last)
            return None
        hint = (
            "Resume in the interrupted run's directory: hydra.run.dir=<that run dir> ckpt_path=last"
            if value == "last"
            else "Pass the path of an existing checkpoint (.ckpt file, or a DeepSpeed checkpoint directory)."
        )
        raise MissingError(f"ckpt_path={value!r}: {path} does not exist. {hint}")
    error = checkpoint_error(path)
    if error is None:
        if value == "auto":
            log.info("ckpt_path=auto: resuming from %s", path)
        return str(path)
    fallback = loadable_fallback(path.parent, path) if value in ("last", "auto") else None
    if fallback is None:
        raise LoadError(
            f"ckpt_path={value!r}: {path} cannot be loaded ({error}): it is truncated or not a checkpoint, and no "
            "other loadable checkpoint is in its directory. Fix: pass another checkpoint, or start fresh "
            "(ckpt_path=null)."
        )
    log.warning("ckpt_path=%s: %s cannot be loaded (%s); resuming from %s, the newest loadable checkpoint.",
                value, path, error, fallback)  # fmt: skip
    return str(fallback)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely: tensors and plain containers only (no pickled code runs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise LoadError(
            f"ckpt_path={str(path)!r} cannot be loaded safely ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}): it is truncated, not a checkpoint of this template, or holds "
            "pickled code (refused). "
            "Fix: pass a .ckpt file written by src/train.py."
        ) from None


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """Best checkpoint of the fit, else the last one, else None (fast_dev_run saves none). Files or, with
    DeepSpeed, directories."""
    callbacks = trainer.checkpoint_callbacks
    for path in [c.best_model_path for c in callbacks] + [c.last_model_path for c in callbacks]:
        if path and Path(path).exists():
            return path
    return None


def best_score(trainer: L.Trainer) -> float | None:
    """Best value of the monitored validation metric seen during fit (None without a monitoring checkpoint)."""
    for callback in trainer.checkpoint_callbacks:
        if callback.monitor and callback.best_model_score is not None:
            return float(callback.best_model_score)
    return None


def export_huggingface(module: Any, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """save_pretrained of the module's model (safetensors, id2label, problem_type, config.finetune) + tokenizer:
    loadable by `transformers.pipeline` and src/predict.py. Weights holding NaN/inf are not exported.

    LoRA adapters are merged into the weights first (in place: `module` is the copy export loaded), so the
    directory is a plain model, without peft files, for every reader."""
    module.merge_adapters()
    state = module.export_state()
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise RunFailed(
            f"Not exported: {len(broken)} weight tensors hold NaN or inf (e.g. {broken[0]}): training diverged. "
            "Fix: lower model.optimizer.lr, keep trainer.gradient_clip_val, or use bf16-mixed rather than 16-mixed."
        )
    out = Path(out_dir)
    module.model.config.finetune = module.export_info()
    module.model.save_pretrained(out, state_dict=state)
    tokenizer.save_pretrained(out)
    log.info("Exported Hugging Face model to %s", out)
    return out
