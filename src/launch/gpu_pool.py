"""One sweep job per GPU: each launcher worker process claims a free GPU for its lifetime.

Used by `launcher=gpu_pool` (joblib workers, one per GPU). The claim is an exclusive file lock in the
sweep directory, held until the worker exits; the worker then sees only its GPU (CUDA_VISIBLE_DEVICES),
so every job it runs uses `cuda:0` = that GPU, and no two jobs share one.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from src.utils.log import get_logger

log = get_logger(__name__)
_claimed: dict[str, Any] = {}  # this process's claim: {"gpu": id, "lock": open file}


def visible_gpus() -> list[str]:
    """Physical GPU ids this machine lets us use (CUDA_VISIBLE_DEVICES, else all)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES"):
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpu_count() -> int:
    """For `hydra.launcher.n_jobs`: as many parallel jobs as GPUs (at least one)."""
    return max(1, len(visible_gpus()))


def claim_gpu(lock_dir: str | Path, gpus: list[str], poll_seconds: float = 5.0) -> str:
    """Lock a free GPU id from `gpus` (waiting if all are taken) and make it the only one visible."""
    if "gpu" in _claimed:
        return _claimed["gpu"]
    if not gpus:
        raise RuntimeError("launcher=gpu_pool found no GPU (CUDA_VISIBLE_DEVICES / torch.cuda.device_count()).")
    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    while True:
        for gpu in gpus:
            handle = open(Path(lock_dir) / f"gpu{gpu}.lock", "w")  # noqa: SIM115 (held for the process lifetime)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            _claimed.update(gpu=gpu, lock=handle)
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
            log.info("Process %d runs its jobs on GPU %s.", os.getpid(), gpu)
            return gpu
        time.sleep(poll_seconds)


class GpuPool(Callback):
    """Hydra callback: before each job, make sure this worker owns a GPU (the first job claims it)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        claim_gpu(Path(config.hydra.sweep.dir) / ".gpu_locks", visible_gpus())
