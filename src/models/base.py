"""What every task's LightningModule shares: the backbone from config, AdamW with a warmup schedule,
the training step, the val/test dispatch, the confusion matrix and predictions kept for reports, and
the RNG state in checkpoints (exact resume). The task files hold the loss, the evaluation step and the
metrics."""

from __future__ import annotations

from typing import ClassVar

import lightning as L
import torch

from src.models.backbone import freeze_encoder, load_model
from src.models.optim import configure_optimizers
from src.utils.seeding import rng_state, set_rng_state


class EncoderModule(L.LightningModule):
    """Base class; subclasses set `task` and `auto_class` (an ``AutoModelFor*``).

    Args:
        model: the `model` config group as a plain dict (pretrained, optimizer, scheduler, ...).
        label_names: class names in id order; they become the exported model's id2label.
        class_weights: optional per-class loss weights (for imbalanced labels).
        backbone_config: the HF config dict; set in checkpoints so loading needs no pretrained download.
    """

    task: ClassVar[str]  # stored in checkpoints: eval.py refuses a checkpoint of another task
    auto_class: ClassVar[type]

    def __init__(
        self,
        model: dict,
        label_names: list[str],
        class_weights: list[float] | None = None,
        backbone_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # plain containers only: checkpoints load with weights_only=True
        self.model = load_model(
            self.auto_class,
            model["pretrained"],
            label_names=label_names,
            config_dict=backbone_config,
            trust_remote_code=bool(model.get("trust_remote_code", False)),
            revision=model.get("revision"),
            attn_implementation=model.get("attn_implementation"),
        )
        self.hparams["backbone_config"] = self.model.config.to_dict()
        if model.get("freeze_backbone"):
            freeze_encoder(self.model)
        if model.get("compile"):
            self.model.compile(dynamic=True)  # in place: state_dict keys stay the same
        weights = torch.tensor(class_weights, dtype=torch.float) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        self.confusion: dict[str, list[list[int]]] = {}  # last computed matrix per stage (rows: gold)
        self.predictions: dict[str, dict[str, torch.Tensor]] = {}  # last epoch's, per stage (for reports)
        self.make_metrics(label_names)

    def make_metrics(self, label_names: list[str]) -> None:
        """The task's torchmetrics objects, one set per evaluation stage (val_*, test_*)."""
        raise NotImplementedError

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The task's loss on `batch` and the logits it came from."""
        raise NotImplementedError

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        """Update the `stage` (val or test) metrics with one batch."""
        raise NotImplementedError

    def end_epoch(self, stage: str) -> None:
        """Log what the metrics need at epoch end; keep the confusion matrix and predictions for reports."""
        self.keep_for_reports(stage)

    def keep_for_reports(self, stage: str) -> None:
        """This epoch's confusion matrix and predictions (gathered from all ranks), then reset both."""
        matrix, store = getattr(self, f"{stage}_confusion"), getattr(self, f"{stage}_store")
        self.confusion[stage] = matrix.compute().cpu().tolist()
        self.predictions[stage] = store.compute()
        matrix.reset()
        store.reset()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self.loss_and_logits(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["input_ids"]))
        self.log_lr()
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self.end_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.end_epoch("test")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids and mask -> logits, (B, C) per text or (B, T, C) per token."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def log_lr(self) -> None:
        """Learning rate, at logging steps only (logging a Python float copies it to the device: a sync)."""
        if self.trainer.global_step % self.trainer.log_every_n_steps == 0:
            self.log("train/lr", self.optimizers().optimizer.param_groups[0]["lr"], on_step=True, on_epoch=False)

    def configure_optimizers(self) -> dict:
        cfg = self.hparams.model
        batches = self.trainer.datamodule.batches_per_epoch()
        return configure_optimizers(self, cfg["optimizer"], cfg.get("scheduler"), batches)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["task"] = self.task
        checkpoint["rng_states"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            set_rng_state(checkpoint["rng_states"])
