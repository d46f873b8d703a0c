"""Stop a run cleanly instead of letting it fail silently or lose work.

- The last step: a run that ends on `trainer.max_steps` in the middle of an epoch validates there (Lightning
  validates only at epoch ends or `val_check_interval`), so its final weights are scored and checkpointed.
- Divergence: a non-finite loss or gradient norm stops the run at that step (before any checkpoint of
  the broken weights is written) with the step, the learning rate and the last good checkpoint; the
  run ends `failed` (exit status, result.json), and nothing is exported.
- Preemption during a fit: SIGTERM (scancel, Kubernetes eviction, `timeout`), SIGUSR1 (SLURM's warning before
  the time limit) and SIGINT (Ctrl-C), caught for the whole run by src/training/stop.py, are deferred here
  to a safe point: the end of the training step in progress, the start of the next validation batch (the
  validation is then rewound, so the resumed run validates that epoch again, whole), or the end of the
  epoch (a signal during the last validation batch, or after the last step). A resumable
  `checkpoints/last.ckpt` is saved there, then the run ends `interrupted` with the stage and exit status
  128 + signal; `ckpt_path=last` (or `auto` in a requeued job) continues exactly. A second Ctrl-C stops at
  once. Outside training and validation (sanity check, test) the signal stops the run at once.

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
from src.training.stop import STOP, StopSignals
from src.utils.errors import RunFailed, RunInterrupted
from src.utils.log import get_logger

log = get_logger(__name__)


class Diverged(RunFailed):
    """The loss or gradient norm became NaN/inf."""


class RunGuard(L.Callback):
    """Args:
    dirpath: the run's checkpoint directory (last.ckpt is written there when a signal stops a fit).
    check_divergence: stop on a non-finite loss or gradient norm.
    stop: the process's stop-signal record (src/training/stop.py; the default is the one the run wrapper installs).
    """

    def __init__(self, dirpath: str, check_divergence: bool = True, stop: StopSignals | None = None) -> None:
        self.dirpath = Path(dirpath)
        self.check_divergence = check_divergence
        self.stop = stop or STOP
        self._pending: tuple[torch.Tensor, torch.cuda.Event | None, int, float] | None = None
        self._grad_finite: torch.Tensor | None = None
        self._interrupt: RunInterrupted | None = None  # raised at the next step's start, once this one is logged

    # ------------------------------------------------------------------ stages
    def _enter(self, stage: str) -> None:
        """A loop starts: take SIGTERM back from Lightning (its handler would end the run with exit status 0)."""
        self.stop.install()
        self.stop.stage = stage

    def on_sanity_check_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._enter("sanity check")

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """Defer stops to safe points from here, and allocate the per-step buffers once: no host-to-device copy
        or pinned allocation in the steps."""
        self._enter("training")
        self.stop.deferred = True
        device = module.device
        self._no, self._yes = torch.zeros((), device=device), torch.ones((), device=device)
        self._host = [torch.empty(2, pin_memory=True) for _ in range(2)] if device.type == "cuda" else []
        self._batches = 0

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._flush(trainer)
            self._enter("validation" if trainer.state.fn == "fit" else "validate")

    def on_validation_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *_: Any) -> None:
        """A signal during a fit's validation: save the state before this validation, so the resumed run
        validates the epoch again, whole (its metrics are not in the checkpoint), then stop."""
        if not trainer.sanity_checking and self.stop.deferred:
            self._stop_if_requested(trainer, rewind_validation=True)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self.stop.deferred:
            self.stop.stage = "training"

    def on_test_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._enter("test")

    def teardown(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        self.stop.deferred = False

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
        if 0 < trainer.max_steps <= trainer.global_step:
            # the last step of the run, maybe mid-epoch: asking to stop makes Lightning validate here, so the
            # final weights are scored and checkpointed (max_steps shorter than an epoch: else never validated)
            trainer.should_stop = True
        loss = outputs["loss"].detach() if isinstance(outputs, dict) else outputs.detach()
        bad = ~torch.isfinite(loss) if self.check_divergence else torch.zeros((), dtype=torch.bool, device=loss.device)
        if self._grad_finite is not None:
            bad, self._grad_finite = bad | ~self._grad_finite, None
        flags = torch.stack([bad.float(), self._yes if self.stop.requested else self._no])
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

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """After the epoch's validation and checkpoints: a signal that came during the last validation batch or
        the epoch's last step stops the run here, not one step into the next epoch (or never, after the last)."""
        self._flush(trainer)
        self._stop_if_requested(trainer)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._flush(trainer)
        self._stop_if_requested(trainer)
        self.stop.deferred = False

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
            self._interrupt = self.stop.interrupted(self.stop.requested or signal.SIGTERM, self._save(trainer))

    def _stop_if_requested(self, trainer: L.Trainer, rewind_validation: bool = False) -> None:
        """Outside a step (a validation batch's start, an epoch's end): if any rank got a signal, save the state
        of this point (again, when a step's end already saved it: the loop has moved on) and stop."""
        wanted = torch.tensor(float(self.stop.requested is not None), device=trainer.strategy.root_device)
        if trainer.world_size > 1:
            wanted = trainer.strategy.reduce(wanted, reduce_op="max")  # a collective: every rank is here
        if not float(wanted):
            return
        if rewind_validation:
            rewind(trainer.fit_loop.epoch_loop.val_loop.batch_progress)
        self._interrupt = self.stop.interrupted(self.stop.requested or signal.SIGTERM, self._save(trainer))
        raise self._interrupt

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

    def _save(self, trainer: L.Trainer) -> str:
        """Save a resumable checkpoint (every rank takes part: sharded strategies write collectively)."""
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)
        log.warning("Saved %s at step %d during %s; stopping (resume with ckpt_path=last).",
                    path, trainer.global_step, self.stop.stage)  # fmt: skip
        return str(path)


def rewind(progress: Any) -> None:
    """Make a validation loop's progress read "interrupted in its first batch": Lightning then runs that
    validation again when the checkpoint is resumed, from its first batch. (Saved as it stands, Lightning
    would continue from the interrupted batch, with the earlier batches' metric states lost.)"""
    before = progress.total.completed - progress.current.completed  # validation batches of earlier validations
    progress.current.ready = progress.current.started = 1
    progress.current.processed = progress.current.completed = 0
    progress.total.ready = progress.total.started = before + 1
    progress.total.processed = progress.total.completed = before
