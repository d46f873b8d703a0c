"""Sentiment (sequence classification) LightningModule: one encoder, one classification head.

Metrics are torchmetrics objects, so under DDP their states are synced across ranks at epoch end
(exact, not an average of per-rank averages): accuracy, macro F1, AUROC, confusion matrix, loss.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)
from transformers import AutoModelForSequenceClassification

from src.models.backbone import freeze_encoder, load_model
from src.models.optim import configure_optimizers
from src.utils.seeding import rng_state, set_rng_state


class SentimentModule(L.LightningModule):
    """Fine-tunes `model.pretrained` to predict one of `label_names` per text.

    Args:
        model: the `model` config group as a plain dict (pretrained, optimizer, scheduler, ...).
        label_names: class names in id order; they become the exported model's id2label.
        class_weights: optional per-class loss weights (for imbalanced labels).
        backbone_config: the HF config dict; set in checkpoints so loading needs no pretrained download.
    """

    task = "sentiment"  # stored in checkpoints: eval.py refuses a checkpoint of another task

    def __init__(
        self,
        model: dict,
        label_names: list[str],
        class_weights: list[float] | None = None,
        backbone_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.model = load_model(
            AutoModelForSequenceClassification,
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

        n = len(label_names)
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(n, average="micro"),
                "f1": MulticlassF1Score(n, average="macro"),
                "auroc": MulticlassAUROC(n),
            }
        )
        self.val_metrics, self.test_metrics = metrics.clone(prefix="val/"), metrics.clone(prefix="test/")
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_confusion, self.test_confusion = MulticlassConfusionMatrix(n), MulticlassConfusionMatrix(n)
        self.confusion: dict[str, list[list[int]]] = {}  # last computed matrix per stage (rows: gold)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids and mask -> (B, C) logits."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["input_ids"], batch["attention_mask"])
        return F.cross_entropy(logits.float(), batch["labels"], weight=self.class_weights), logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["labels"]))
        self.log("train/lr", self.optimizers().optimizer.param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self._loss(batch)
        probs = logits.float().softmax(dim=-1)  # (B, C)
        metrics, mean_loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        metrics.update(probs, batch["labels"])
        mean_loss.update(loss, weight=len(batch["labels"]))
        getattr(self, f"{stage}_confusion").update(probs, batch["labels"])
        # Metric objects: Lightning calls compute() (synced across ranks) at epoch end, then reset()
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val")
        self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _store_confusion(self, stage: str) -> None:
        matrix = getattr(self, f"{stage}_confusion")
        self.confusion[stage] = matrix.compute().cpu().tolist()
        matrix.reset()

    def on_validation_epoch_end(self) -> None:
        self._store_confusion("val")

    def on_test_epoch_end(self) -> None:
        self._store_confusion("test")

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
