"""Callbacks of this template (the rest come from Lightning)."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from src.utils.log import get_logger

log = get_logger(__name__)


class Throughput(L.Callback):
    """Training speed per epoch: samples/s, real (non-pad) tokens/s and padding efficiency.

    Validation time is excluded. Token counts accumulate on the device and are read once per epoch,
    so the callback adds no host-device synchronisation to the training steps.
    """

    def _reset(self, pl_module: L.LightningModule) -> None:
        self._start, self._excluded = time.perf_counter(), 0.0
        self._samples, self._padded = 0, 0
        self._tokens = torch.zeros((), dtype=torch.long, device=pl_module.device)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset(pl_module)  # a run resumed mid-epoch gets no on_train_epoch_start for that epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset(pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        ids = batch["input_ids"]  # (B, T)
        mask = batch.get("attention_mask")  # absent when no row is padded
        self._samples += ids.shape[0]
        self._padded += ids.numel()
        self._tokens += mask.sum() if mask is not None else ids.numel()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._excluded += time.perf_counter() - self._val_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = max(time.perf_counter() - self._start - self._excluded, 1e-9)
        tokens = int(self._tokens.item())
        stats = {
            "train/samples_per_sec": self._samples / seconds,
            "train/tokens_per_sec": tokens / seconds,
            "train/padding_efficiency": tokens / max(self._padded, 1),
            "train/epoch_seconds": seconds,
        }
        pl_module.log_dict(stats, on_step=False, on_epoch=True, sync_dist=False)
        log.info(
            "Epoch %d: %.1f samples/s, %.0f tokens/s, padding efficiency %.2f, %.1f s of training (rank 0)",
            trainer.current_epoch, *stats.values(),
        )  # fmt: skip
