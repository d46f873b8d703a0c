"""Test-only callbacks, injected into real CLI runs with `+callbacks.<name>._target_=tests.helpers...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L


class InterruptedForTest(RuntimeError):
    pass


class LossRecorder(L.Callback):
    """Appends every optimizer step's loss (and each validation loss) to a JSON-lines file; optionally
    interrupts training at the start of the step after `stop_at_step` (after that step's checkpoint)."""

    def __init__(self, path: str, stop_at_step: int | None = None) -> None:
        self.path = Path(path)
        self.stop_at_step = stop_at_step

    def _write(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if self.stop_at_step is not None and trainer.global_step == self.stop_at_step:
            raise InterruptedForTest(f"interrupted at step {trainer.global_step}")

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        rows = batch["idx"].tolist() if "idx" in batch else None  # which examples the step trained on
        self._write({"epoch": trainer.current_epoch, "step": trainer.global_step, "loss": float(outputs["loss"]),
                     "rows": rows})  # fmt: skip

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write({"step": trainer.global_step, "val_loss": float(trainer.callback_metrics["val/loss"])})


class SignalAt(L.Callback):
    """Sends `signal_name` to this process at step `step` (as scancel, Ctrl-C or kill -9 would): at the start of
    the step, or with `mid_step` after its backward pass, before the optimizer step."""

    def __init__(self, step: int, signal_name: str = "SIGTERM", mid_step: bool = False) -> None:
        self.step, self.signal_name, self.mid_step = step, signal_name, mid_step

    def _send(self, trainer: L.Trainer) -> None:
        import os
        import signal

        if trainer.global_step == self.step:
            os.kill(os.getpid(), getattr(signal, self.signal_name))

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if not self.mid_step:
            self._send(trainer)

    def on_before_optimizer_step(self, trainer: L.Trainer, *args: Any) -> None:
        if self.mid_step:
            self._send(trainer)


class PoisonAt(L.Callback):
    """Sets the model's first weight matrix to NaN at the start of step `step`: a blow-up, on cue."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step == self.step:
            import torch

            with torch.no_grad():
                next(p for p in module.parameters() if p.ndim == 2).fill_(float("nan"))


class SyncFreeSteps(L.Callback):
    """CUDA sync debug mode `error` from each step's start to its optimizer step (after 3 warm-up steps)."""

    checked = 0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        import torch

        if trainer.global_step >= 3:
            torch.cuda.set_sync_debug_mode("error")

    def on_before_optimizer_step(self, *args: Any) -> None:
        import torch

        torch.cuda.set_sync_debug_mode("default")
        type(self).checked += 1
