"""Multiple-choice LightningModule: the encoder scores every (question, choice) sequence, a softmax over a
question's choices picks the answer.

Loss: cross-entropy over the choices in fp32, absent choices (padding rows of questions with fewer choices: their
attention mask is all zeros) masked to -inf, so they never win and leave the other choices' probabilities as
they would be alone. Metrics (val/, test/): acc, loss; torchmetrics objects, synced across DDP ranks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy
from transformers import AutoModelForMultipleChoice

from src.models.base import EncoderModule
from src.models.store import PredictionStore
from src.utils.errors import ConfigError, DataError

MONITOR = "val/acc"


def present_choices(batch: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
    """(B, C) True where a choice exists: some token of its row is attended (no mask: every choice exists)."""
    mask = batch.get("attention_mask")
    if mask is None:
        return torch.ones_like(logits, dtype=torch.bool)
    return mask.bool().any(dim=-1)  # (B, C, T) -> (B, C)


def masked_logits(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """fp32 logits with absent choices at -inf (masked_fill: whatever the head gave them, NaN included, is gone)."""
    return logits.float().masked_fill(~present, float("-inf"))


class MultipleChoiceModule(EncoderModule):
    """Fine-tunes `model.pretrained` with a multiple-choice head (one score per choice; arguments: see
    EncoderModule).

    Args:
        max_choices: the most choices of any question in the data: the width of the kept predictions.
        context: trained with a context (predict.py then asks for one).
        label_names, class_weights: must stay None (the head has no label set); kept for the base signature.
    """

    task_name = "multiple_choice"
    auto_class = AutoModelForMultipleChoice
    feature_positions = "first"  # each choice's first token (through the pooler where the backbone has one)

    def __init__(
        self,
        model: dict,
        max_choices: int,
        context: bool = False,
        label_names: list[str] | None = None,
        class_weights: list[float] | None = None,
        backbone_config: dict | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        if label_names is not None or class_weights is not None:
            raise ConfigError(
                "A multiple-choice head has no label set: label names and model.class_weights must be null."
            )
        self.max_choices = int(max_choices)
        super().__init__(model, None, None, backbone_config, steps_per_epoch)

    def make_metrics(self, label_names: list[str] | None) -> None:
        collection = MetricCollection({"acc": MulticlassAccuracy(self.max_choices, average="micro")})
        self.val_metrics, self.test_metrics = collection.clone(prefix="val/"), collection.clone(prefix="test/")
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        # probs (N, max_choices), absent choices 0; labels, n_choices, idx (N,)
        self.val_store, self.test_store = (PredictionStore("probs", "labels", "n_choices", "idx") for _ in range(2))

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self(batch).logits  # (B, C)
        logits = masked_logits(raw, present_choices(batch, raw))  # (B, C), fp32 under any precision
        return F.cross_entropy(logits, batch["labels"]), logits

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self.loss_and_logits(batch)
        labels = batch["labels"]
        if logits.shape[1] > self.max_choices:
            raise DataError(
                f"A {stage} question has {logits.shape[1]} choices; this model was built for at most "
                f"{self.max_choices}. Fix: evaluate on data with at most that many choices, or retrain on it."
            )
        probs = logits.softmax(dim=-1)  # (B, C)
        getattr(self, f"{stage}_metrics").update(probs.argmax(dim=-1), labels)
        getattr(self, f"{stage}_loss").update(loss, weight=len(labels))
        getattr(self, f"{stage}_store").update(
            probs=F.pad(probs, (0, self.max_choices - probs.shape[1])),  # (B, max_choices)
            labels=labels,
            n_choices=present_choices(batch, logits).sum(dim=-1),
            idx=batch["idx"],
        )

    def end_epoch(self, stage: str) -> None:
        """Compute (synced across ranks), log, reset; keep the predictions for the reports."""
        metrics, loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        scores = dict(metrics.compute()) | {f"{stage}/loss": loss.compute()}
        self.log_dict(scores, prog_bar=False, sync_dist=False)  # already global: metric states were synced
        metrics.reset()
        loss.reset()
        self.keep_for_reports(stage)

    def export_info(self) -> dict[str, Any]:
        """predict.py asks for a context when the model was trained with one."""
        return {"task": self.task_name, "context": bool(self.hparams.context), "max_choices": self.max_choices}
