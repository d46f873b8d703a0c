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
    """Sends `signal_name` to this process `times` times (as scancel or Ctrl-C would) at the start of `step` in
    training (with `mid_step`: after its backward pass, before the optimizer step), or in another `stage`:
    `sanity` (its first batch), `validation` (batch `batch` of the validation in epoch `epoch`), `test` (its
    first batch)."""

    def __init__(
        self, step: int = 0, signal_name: str = "SIGTERM", mid_step: bool = False, stage: str = "train",
        epoch: int = 0, batch: int = 0, times: int = 1,
    ) -> None:  # fmt: skip
        self.step, self.signal_name, self.mid_step = step, signal_name, mid_step
        self.stage, self.epoch, self.batch, self.times = stage, epoch, batch, times

    def _send(self) -> None:
        import os
        import signal

        for _ in range(self.times):
            os.kill(os.getpid(), getattr(signal, self.signal_name))

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if self.stage == "train" and not self.mid_step and trainer.global_step == self.step:
            self._send()

    def on_before_optimizer_step(self, trainer: L.Trainer, *args: Any) -> None:
        if self.stage == "train" and self.mid_step and trainer.global_step == self.step:
            self._send()

    def on_validation_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, batch_idx: int, *_: Any) -> None:
        if trainer.sanity_checking:
            if self.stage == "sanity" and batch_idx == 0:
                self._send()
        elif self.stage == "validation" and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            self._send()

    def on_test_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, batch_idx: int, *_: Any) -> None:
        if self.stage == "test" and batch_idx == 0:
            self._send()


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


class HandlerProbe(L.Callback):
    """Writes, as a JSON list, the qualified name of the SIGTERM handler in place at every batch of every loop."""

    def __init__(self, path: str) -> None:
        self.path, self.seen = Path(path), []

    def _look(self, *_: Any) -> None:
        import signal

        handler = signal.getsignal(signal.SIGTERM)
        self.seen.append(getattr(handler, "__qualname__", repr(handler)))
        self.path.write_text(json.dumps(self.seen))

    on_train_batch_start = on_validation_batch_start = on_test_batch_start = _look
