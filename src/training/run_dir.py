"""A run directory holds one run: resuming never mixes two configurations, and two processes never write it.

- Every checkpoint carries the run's config as given, interpolations unresolved (`RunRecord`).
  `ckpt_path=last|auto|<file>` compares it with the command's config and refuses a change that would alter
  the training trajectory or the data (batch size, learning rate, data path, seed, max_epochs...), naming
  each changed key and the fix: a new run, or `allow_changes=[key, ...]` (keys or patterns such as
  `callbacks.probe.*`), which accepts the change and records it in `<run>/resumes.jsonl`. What does not
  alter the trajectory may change freely: loggers, reports, progress, evaluation batch size, dataloader
  workers, paths (a moved run directory), and the device count when the global batch (batch_size x devices
  x nodes x accumulate_grad_batches) is kept.
- `.hydra/config.yaml` stays the config that started the run: Hydra writes a resumed run's config beside it,
  in `.hydra/resume-<n>/` (`run_subdir`, registered as a resolver by the entry points).
- `RunLock`: a second process that tries to write the same run directory stops at once with a message.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
from filelock import FileLock, Timeout

from src.utils.errors import ConfigError
from src.utils.log import get_logger

log = get_logger(__name__)
RESUMES = "resumes.jsonl"
# groups of leaf objects (no schema: their class is their declaration) that do not change what is trained; every
# other key that may change is declared `safe` in its schema (src/utils/schema.py), and given to check_resume
SAFE_GROUPS = ("logger", "logger.*", "callbacks.reports.*", "callbacks.progress_bar.*", "callbacks.throughput.*")
# keys that may change together when the global batch stays the same (more or fewer devices)
GLOBAL_BATCH = ("data.batch_size", "trainer.devices", "trainer.num_nodes", "trainer.accumulate_grad_batches")
DEVICES = (*GLOBAL_BATCH, "trainer.strategy", "trainer.accelerator", "trainer.sync_batchnorm")


class RunRecord(L.Callback):
    """Stores the run's config (plain containers, interpolations unresolved) in every checkpoint, for
    `check_resume`."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["run_config"] = self.config


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (lists are values)."""
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out |= flatten(value, f"{prefix}{key}.") if isinstance(value, dict) and value else {f"{prefix}{key}": value}
    return out


def _global_batch(flat: dict[str, Any]) -> int | None:
    """batch_size x devices x nodes x accumulation, or None when the device count is not a number (auto)."""
    values = [flat.get(k, 1) for k in GLOBAL_BATCH]
    return None if not all(isinstance(v, int) for v in values) else values[0] * values[1] * values[2] * values[3]


def config_changes(saved: dict, current: dict) -> dict[str, tuple[Any, Any]]:
    """Every key whose value differs between two configs: {key: (saved, current)} (a missing key is None)."""
    before, after = flatten(saved), flatten(current)
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def unsafe_changes(
    changes: dict[str, tuple[Any, Any]], saved: dict, current: dict, safe: set[str] = frozenset()
) -> list[str]:
    """The changed keys that alter the trajectory or the data: all but the `safe` ones (declared so in the schema)
    and the leaf-object groups that only observe; device keys only when the global batch changes."""
    keep_devices = _global_batch(flatten(saved)) == _global_batch(flatten(current)) is not None
    observers = lambda k: any(fnmatch.fnmatchcase(k, p) for p in SAFE_GROUPS)  # noqa: E731
    return [k for k in changes if k not in safe and not observers(k) and not (keep_devices and k in DEVICES)]


def check_resume(
    saved: dict | None, current: dict, checkpoint: str, output_dir: str | Path, safe: set[str] = frozenset()
) -> None:
    """Refuse a resume whose config changes what is trained, unless `allow_changes` names every such key; record
    an accepted change in <run>/resumes.jsonl. Raises before any work."""
    if saved is None:
        log.warning("%s holds no run config (written by an older version): the resume cannot be checked.", checkpoint)
        return
    changes = config_changes(saved, current)
    unsafe = unsafe_changes(changes, saved, current, safe)
    allowed = [str(p) for p in current["allow_changes"]]  # keys or patterns (callbacks.probe.*)
    refused = [k for k in unsafe if not any(fnmatch.fnmatchcase(k, p) for p in allowed)]
    if refused:
        lines = "\n".join(f"  - {k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in refused)
        keys = ",".join(refused)
        raise ConfigError(
            f"Resuming from {checkpoint} with another config would mix two runs in one directory; changed:\n{lines}\n"
            f"Fix: give the values the run was started with, start a new run (another hydra.run.dir, without "
            f"ckpt_path), or accept the change: allow_changes=[{keys}] (recorded in {Path(output_dir) / RESUMES})."
        )
    if changes:
        log.info("Resuming with changed settings: %s.", ", ".join(f"{k}={changes[k][1]!r}" for k in changes))
    record = {
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "checkpoint": checkpoint,
        "changes": {k: list(v) for k, v in changes.items()},
        "accepted": [k for k in unsafe if k not in refused],
    }
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    with (Path(output_dir) / RESUMES).open("a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def run_subdir(run_dir: str) -> str:
    """Where Hydra writes this invocation's config: `.hydra` for a new run; `.hydra/resume-<n>` when the directory
    already holds a run (a resume), so the config that started the run is never overwritten."""
    if not (Path(run_dir) / ".hydra" / "config.yaml").exists():
        return ".hydra"
    n = 1
    while (Path(run_dir) / ".hydra" / f"resume-{n}").exists():
        n += 1
    return f".hydra/resume-{n}"


def _first_rank() -> bool:
    """The process that owns the run directory: not a DDP/torchrun rank other than 0 (they share the directory)."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


class RunLock:
    """Held for the whole run by its first rank; a second process writing the same run directory fails at once."""

    def __init__(self, output_dir: str | Path) -> None:
        self.dir = Path(output_dir)
        self.lock: FileLock | None = None

    def __enter__(self) -> RunLock:
        if not _first_rank():
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.dir / ".lock"))
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            owner = (self.dir / ".lock.pid").read_text().strip() if (self.dir / ".lock.pid").exists() else "?"
            self.lock = None
            raise ConfigError(
                f"{self.dir} is being written by another process (pid {owner}): one run directory holds one run. "
                "Fix: wait for that run to end, or give this one its own directory (hydra.run.dir=<new dir>)."
            ) from None
        (self.dir / ".lock.pid").write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            (self.dir / ".lock.pid").unlink(missing_ok=True)
            self.lock.release()
