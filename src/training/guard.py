"""Stop a run cleanly instead of letting it fail silently or lose work.

- Divergence: a non-finite loss or gradient norm stops the run at that step (before any checkpoint of
  the broken weights is written) with the step, the learning rate and the last good checkpoint; the
  run ends `failed` (exit status, result.json), and nothing is exported.
- Preemption: SIGTERM (scancel, Kubernetes eviction, `timeout`), SIGUSR1 (SLURM's warning before the time
  limit) and SIGINT (Ctrl-C) save a resumable `checkpoints/last.ckpt` at the next step boundary, then the
  run ends `interrupted` with exit status 128 + signal; `ckpt_path=last` (or `auto` in a requeued job)
  continues exactly. A second Ctrl-C stops at once.

All ranks decide together: each step's flags (non-finite, stop requested) are max-reduced across ranks,
so a signal seen by one rank, or a NaN in one rank's shard, stops every rank at the same step. No
per-step host-device sync on GPU: a step's flags are copied to pinned memory asynchronously and read at
the end of the next step (or before validation or the end of the epoch), by which time they are ready:
a divergence is caught before the next checkpoint can save the broken weights. A stop is carried out at
the start of the step after the decision, when the previous step is complete, logged and checkpointed.
"""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from src.training.checkpoints import loadable_fallback
from src.utils.errors import RunFailed, RunInterrupted
from src.utils.log import get_logger

log = get_logger(__name__)
SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")


class Diverged(RunFailed):
    """The loss or gradient norm became NaN/inf."""


class RunGuard(L.Callback):
    """Args:
    dirpath: the run's checkpoint directory (last.ckpt is written there on a signal).
    check_divergence: stop on a non-finite loss or gradient norm.
    signals: the signals that save and stop (any of SIGTERM, SIGUSR1, SIGINT).
    """

    def __init__(self, dirpath: str, check_divergence: bool = True, signals: list[str] | tuple = SIGNALS) -> None:
        self.dirpath = Path(dirpath)
        self.check_divergence = check_divergence
        self.signals = [getattr(signal, name) for name in signals]
        self.requested: int | None = None  # the first signal received
        self._before: dict[int, Any] = {}  # handlers before the fit (a scheduler's, e.g. submitit's requeue)
        self._installed: dict[int, Any] = {}
        self._pending: tuple[torch.Tensor, torch.cuda.Event | None, int, float] | None = None
        self._grad_finite: torch.Tensor | None = None
        self._interrupt: RunInterrupted | None = None  # raised at the next step's start, once this one is logged

    # ------------------------------------------------------------------ signals
    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        if stage == "fit":  # before Lightning installs its own handlers (in Trainer._run, after setup)
            self._before = {s: signal.getsignal(s) for s in self.signals}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        self.requested = self.requested or signum
        log.warning("Received %s: finishing this step, saving a checkpoint, then stopping "
                    "(Ctrl-C again to stop at once).", signal.Signals(signum).name)  # fmt: skip

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """Install the handlers (after Lightning's, which would exit 0 on SIGTERM without a checkpoint), and
        allocate the per-step buffers once: no host-to-device copy or pinned allocation in the steps."""
        device = module.device
        self._no, self._yes = torch.zeros((), device=device), torch.ones((), device=device)
        self._host = [torch.empty(2, pin_memory=True) for _ in range(2)] if device.type == "cuda" else []
        self._batches = 0
        for s in self.signals:
            try:
                self._installed[s] = signal.signal(s, self._handler)
            except ValueError:  # not the main thread (a notebook's worker thread): signals cannot be caught
                break

    def teardown(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        for s, previous in self._installed.items():
            signal.signal(s, previous)
        self._installed.clear()

    # ------------------------------------------------------------------ per step
    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *_: Any) -> None:
        """Stop between two steps: the previous one is complete, checkpointed and logged by then."""
        if self._interrupt is not None:
            raise self._interrupt

    def on_before_optimizer_step(self, trainer: L.Trainer, module: L.LightningModule, optimizer: Any) -> None:
        """The gradient norm's finiteness (fp16 with a loss scaler skips inf steps itself: not checked there)."""
        scaler = (
            getattr(trainer.precision_plugin, "scaler", None)
            if isinstance(trainer.precision_plugin, MixedPrecision)
            else None
        )
        if not self.check_divergence or scaler is not None:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if grads:
            self._grad_finite = torch.isfinite(torch.nn.utils.get_total_norm(grads))

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, *_: Any) -> None:
        loss = outputs["loss"].detach() if isinstance(outputs, dict) else outputs.detach()
        bad = ~torch.isfinite(loss) if self.check_divergence else torch.zeros((), dtype=torch.bool, device=loss.device)
        if self._grad_finite is not None:
            bad, self._grad_finite = bad | ~self._grad_finite, None
        flags = torch.stack([bad.float(), self._yes if self.requested else self._no])
        if trainer.world_size > 1:
            flags = trainer.strategy.reduce(flags, reduce_op="max")  # every rank takes the same decision
        previous, self._pending = self._pending, self._stage(flags, trainer, loss)
        if loss.device.type != "cuda":
            self._act(trainer, self._pending, stop=True)
        elif previous is not None:
            self._act(trainer, previous, stop=True)  # the step before this one: its copy has long finished

    def _stage(self, flags: torch.Tensor, trainer: L.Trainer, loss: torch.Tensor) -> tuple:
        """This step's flags on their way to the host (pinned, asynchronous on CUDA), with its step and lr."""
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else math.nan
        if flags.device.type != "cuda":
            return flags, None, trainer.global_step, lr
        self._batches += 1
        host = self._host[self._batches % 2]  # the previous batch's buffer is read before it is reused
        host.copy_(flags, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return host, event, trainer.global_step, lr

    def _flush(self, trainer: L.Trainer) -> None:
        """Act on the last step's flags now (before validation, a checkpoint, or the end of training)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._act(trainer, pending)

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._flush(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._flush(trainer)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._flush(trainer)

    # ------------------------------------------------------------------ decisions
    def _act(self, trainer: L.Trainer, staged: tuple, stop: bool = False) -> None:
        """Raise on divergence; on a signal (agreed by every rank) save the checkpoint now, at the end of a
        step as ModelCheckpoint does, when `stop` (at a step's end; a pending signal stays requested and is
        acted on at the next one)."""
        flags, event, step, lr = staged
        if event is not None:
            event.synchronize()
        diverged, stop_requested = (float(x) for x in flags.tolist())
        if diverged:
            raise self._divergence(step, lr)
        if stop_requested and stop and self._interrupt is None:  # some rank got a signal: all stop together
            self._interrupt = self._stop(trainer, self.requested or signal.SIGTERM)

    def _divergence(self, step: int, lr: float) -> Diverged:
        last_good = loadable_fallback(self.dirpath) if self.dirpath.is_dir() else None
        if last_good is None:
            resume = "no checkpoint was saved before it"
        else:
            saved = torch.load(last_good, map_location="cpu", weights_only=True, mmap=True).get("global_step")
            resume = f"last good checkpoint: {last_good} (step {saved}; resume with ckpt_path=<it> and a lower lr)"
        return Diverged(
            f"Training diverged at step {step}: the loss or the gradient norm is NaN/inf (learning rate {lr:.3g}); "
            f"{resume}. Nothing was exported. Fix: lower model.optimizer.lr, keep trainer.gradient_clip_val, "
            "use bf16-mixed rather than 16-mixed, or check the data for extreme targets."
        )

    def _stop(self, trainer: L.Trainer, signum: int) -> RunInterrupted:
        """Save a resumable checkpoint (every rank takes part: sharded strategies write collectively)."""
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)
        log.warning("Saved %s at step %d; stopping (resume with ckpt_path=last).", path, trainer.global_step)
        previous = self._before.get(signum)  # a scheduler's handler (submitit requeues on SIGUSR1), not Python's
        chained = previous if callable(previous) and previous is not signal.default_int_handler else None
        return RunInterrupted(signum, str(path), previous_handler=chained)
