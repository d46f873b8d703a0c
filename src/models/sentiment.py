"""Sentiment (sequence classification) LightningModule: one encoder, one classification head.

Metrics are torchmetrics objects, so under DDP their states are synced across ranks at epoch end
(exact, not an average of per-rank averages): accuracy, macro F1, AUROC, confusion matrix, loss.
"""

from __future__ import annotations

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

from src.models.base import EncoderModule
from src.models.store import PredictionStore


class SentimentModule(EncoderModule):
    """Fine-tunes `model.pretrained` to predict one of `label_names` per text (arguments: see EncoderModule)."""

    task = "sentiment"
    auto_class = AutoModelForSequenceClassification

    def make_metrics(self, label_names: list[str]) -> None:
        n = len(label_names)
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(n, average="micro"),
                "f1": MulticlassF1Score(n, average="macro"),
                "auroc": MulticlassAUROC(n),
            }
        )
        self.val_metrics, self.test_metrics = metrics.clone(prefix="val/"), metrics.clone(prefix="test/")
        self.val_loss, self.test_loss = (MeanMetric() for _ in range(2))
        self.val_confusion, self.test_confusion = (MulticlassConfusionMatrix(n) for _ in range(2))
        self.val_store, self.test_store = (PredictionStore("probs", "labels", "idx") for _ in range(2))

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["input_ids"], batch["attention_mask"])  # (B, C)
        return F.cross_entropy(logits.float(), batch["labels"], weight=self.class_weights), logits

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self.loss_and_logits(batch)
        probs = logits.float().softmax(dim=-1)  # (B, C)
        metrics, mean_loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        metrics.update(probs, batch["labels"])
        mean_loss.update(loss, weight=len(batch["labels"]))
        getattr(self, f"{stage}_confusion").update(probs, batch["labels"])
        getattr(self, f"{stage}_store").update(probs=probs, labels=batch["labels"], idx=batch["idx"])
        # Metric objects: Lightning calls compute() (synced across ranks) at epoch end, then reset()
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val")
        self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True)
