"""Training speed as GPU users read it: samples/s, real tokens/s, padding efficiency, step time, MFU and
peak memory, per epoch, logged (train/*) and printed.

What is timed: the wall clock from the first counted step to the epoch's last step, minus validation and
checkpoint writing (measured by AtomicCheckpointIO); data loading stays in (a starved GPU is slow
training). The first `warmup_steps` steps of the run are left out: compilation, CUDA context and
allocator warm-up. On CUDA the clock is read after `torch.cuda.synchronize()` at those few boundaries
only, never per step; token counts accumulate on the device and are read once per epoch. Under DDP the
counts are summed over ranks and the time is the slowest rank's: the figures are the whole job's.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import lightning as L
import torch

from src.training.flops import StepFlops, device_peak_tflops, precision_kind
from src.utils.log import get_logger

log = get_logger(__name__)


class Throughput(L.Callback):
    """Args:
    warmup_steps: steps at the start of the run not counted (compilation, warm-up).
    peak_tflops: the device's peak TFLOP/s for MFU; null = from the device table (CUDA), no MFU on CPU.
    """

    def __init__(self, warmup_steps: int = 3, peak_tflops: float | None = None) -> None:
        self.warmup_steps = warmup_steps
        self.peak_tflops = peak_tflops
        self._counting = False
        self._warm = False  # warm-up is once per process: later epochs count from their first step

    # ------------------------------------------------------------------ clock
    def _now(self, trainer: L.Trainer) -> float:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def _checkpoint_seconds(self, trainer: L.Trainer) -> float:
        return float(getattr(trainer.strategy.checkpoint_io, "seconds", 0.0))

    def _reset(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._counting, self._start = False, 0.0
        self._excluded = 0.0
        self._steps, self._samples, self._padded, self._flops = 0, 0, 0, 0.0
        self._tokens = torch.zeros((), dtype=torch.long, device=module.device)
        if module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(module.device)

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.step_flops = StepFlops(module.model)
        self.peak = self._device_peak(trainer, module)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._reset(trainer, module)  # a run resumed mid-epoch gets no on_train_epoch_start for that epoch
        self._first_step = trainer.global_step

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._reset(trainer, module)

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if not self._counting and (self._warm or trainer.global_step - self._first_step >= self.warmup_steps):
            self._counting, self._warm, self._start = True, True, self._now(trainer)
            self._checkpoint_base = self._checkpoint_seconds(trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        if not self._counting:
            return
        ids = batch["input_ids"]  # (B, T), or (B, C, T) with C sequences per example (multiple choice)
        mask = batch.get("attention_mask")  # absent when nothing is padded
        self._steps += 1
        self._samples += ids.shape[0]
        self._padded += ids.numel()
        self._tokens += mask.sum() if mask is not None else ids.numel()
        self._flops += self.step_flops(ids.numel() // ids.shape[-1], ids.shape[-1])  # sequences, their length

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self._counting and not trainer.sanity_checking:
            self._val_start = self._now(trainer)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self._counting and not trainer.sanity_checking:
            self._excluded += self._now(trainer) - self._val_start

    # ------------------------------------------------------------------ epoch figures
    def _device_peak(self, trainer: L.Trainer, module: L.LightningModule) -> float | None:
        """Peak FLOP/s of one device for this run's precision (config key, else the device table)."""
        if self.peak_tflops:
            return float(self.peak_tflops) * 1e12
        if module.device.type != "cuda":
            return None
        kind = precision_kind(trainer.precision, torch.get_float32_matmul_precision())
        peak = device_peak_tflops(torch.cuda.get_device_name(module.device), kind)
        if peak is None:
            log.info("No peak FLOP/s known for %s: set callbacks.throughput.peak_tflops to log MFU.",
                     torch.cuda.get_device_name(module.device))  # fmt: skip
        return None if peak is None else peak * 1e12

    def _peak_memory_gb(self, module: L.LightningModule) -> float:
        if module.device.type == "cuda":
            return torch.cuda.max_memory_allocated(module.device) / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (process peak)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self._counting or self._steps == 0:
            return
        seconds = self._now(trainer) - self._start - self._excluded
        seconds -= self._checkpoint_seconds(trainer) - self._checkpoint_base
        device = module.device
        totals = torch.tensor([self._samples, self._padded, self._flops], dtype=torch.float64, device=device)
        totals = trainer.strategy.reduce(totals, reduce_op="sum")  # the whole job's work...
        tokens = float(trainer.strategy.reduce(self._tokens.double(), reduce_op="sum"))
        slowest = torch.tensor(max(seconds, 1e-9), dtype=torch.float64, device=device)
        seconds = float(trainer.strategy.reduce(slowest, reduce_op="max"))  # ...in the slowest rank's time
        samples, padded, flops = totals.tolist()
        stats = {
            "train/samples_per_sec": samples / seconds,
            "train/tokens_per_sec": tokens / seconds,
            "train/padding_efficiency": tokens / max(padded, 1.0),
            "train/step_time_ms": 1000 * seconds / self._steps,
            "train/epoch_seconds": seconds,
            "train/peak_memory_gb": self._peak_memory_gb(module),
        }
        if self.peak:
            stats["train/mfu"] = flops / seconds / (self.peak * trainer.world_size)
        module.log_dict(stats, on_step=False, on_epoch=True, sync_dist=False)
        log.info(
            "Epoch %d: %.1f samples/s, %.0f tokens/s, padding efficiency %.2f, %.1f ms/step, %s, peak memory "
            "%.2f GiB (%d steps, %.1f s of training; %d ranks)", trainer.current_epoch, stats["train/samples_per_sec"],
            stats["train/tokens_per_sec"], stats["train/padding_efficiency"], stats["train/step_time_ms"],
            f"MFU {stats['train/mfu']:.1%}" if "train/mfu" in stats else "MFU n/a (no peak FLOP/s)",
            stats["train/peak_memory_gb"], self._steps, seconds, trainer.world_size,
        )  # fmt: skip
        self._counting = False
