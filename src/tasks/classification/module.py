"""Sequence classification LightningModule: one encoder, one head; single-label, multi-label or regression.

| problem_type | loss | metrics (val/, test/) |
|---|---|---|
| single_label_classification | cross-entropy (optional class weights) | acc, f1 (macro), auroc, <label>/f1, loss |
| multi_label_classification | BCE with logits (optional pos_weight) | f1_micro, f1_macro, map, auroc, exact_match, |
| | | <label>/f1, <label>/auroc, loss |
| regression | MSE on (optionally) normalised targets | mse, mae, pearson, spearman, loss |

Metrics are torchmetrics objects: under DDP their states are synced across ranks at epoch end (exact,
not an average of per-rank averages). Multi-label predictions use per-label thresholds (`task.threshold`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassF1Score,
    MultilabelAUROC,
    MultilabelAveragePrecision,
    MultilabelExactMatch,
    MultilabelF1Score,
)
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, PearsonCorrCoef, SpearmanCorrCoef
from transformers import AutoModelForSequenceClassification

from src.models.base import EncoderModule
from src.models.store import PredictionStore
from src.tasks.classification.data import MULTI, REGRESSION, SINGLE
from src.utils.errors import ConfigError

MONITOR = {SINGLE: "val/acc", MULTI: "val/f1_micro", REGRESSION: "val/pearson"}  # task.monitor=auto


def thresholds(spec: float | Sequence[float] | Mapping[str, float], names: Sequence[str]) -> list[float]:
    """`task.threshold` as one probability per label: a number for all, a list in label order, or {label: p}
    (labels not named keep 0.5)."""
    if isinstance(spec, (int, float)):
        values = [float(spec)] * len(names)
    elif isinstance(spec, Mapping):
        unknown = set(spec) - set(names)
        if unknown:
            raise ConfigError(f"task.threshold names unknown labels {sorted(unknown)}; the labels are {list(names)}.")
        values = [float(spec.get(n, 0.5)) for n in names]
    else:
        values = [float(v) for v in spec]
        if len(values) != len(names):
            raise ConfigError(f"task.threshold has {len(values)} values for {len(names)} labels {list(names)}.")
    if not all(0.0 < v < 1.0 for v in values):
        raise ConfigError(f"task.threshold={spec}: probabilities strictly between 0 and 1.")
    return values


class ClassificationModule(EncoderModule):
    """Fine-tunes `model.pretrained` with a sequence classification head (arguments: see EncoderModule).

    Args:
        problem_type: single_label_classification, multi_label_classification or regression.
        text_pair: trained on sentence pairs (predict.py then asks for both texts).
        target_mean, target_std: regression targets are normalised with these (from train); predictions and
            the exported head give raw-scale scores.
        threshold: multi-label decision threshold(s), see `thresholds`.
    """

    task_name = "classification"
    auto_class = AutoModelForSequenceClassification
    feature_positions = "first"  # the head reads each sequence's first token (BERT: through its pooler)

    def __init__(
        self,
        model: dict,
        label_names: list[str],
        problem_type: str = SINGLE,
        class_weights: list[float] | None = None,
        text_pair: bool = False,
        target_mean: float | None = None,
        target_std: float | None = None,
        threshold: float | list[float] | dict[str, float] = 0.5,
        backbone_config: dict | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        self.problem_type = problem_type
        self.shift, self.scale = (target_mean or 0.0), (target_std or 1.0)
        self.label_thresholds = thresholds(threshold, label_names) if problem_type == MULTI else None
        super().__init__(model, label_names, class_weights, backbone_config, steps_per_epoch)

    def config_overrides(self) -> dict[str, Any]:
        return {"problem_type": self.problem_type}

    def make_metrics(self, label_names: list[str]) -> None:
        n = len(label_names)
        if self.problem_type == SINGLE:
            metrics = {"acc": MulticlassAccuracy(n, average="micro"), "f1": MulticlassF1Score(n, average="macro"),
                       "auroc": MulticlassAUROC(n)}  # fmt: skip
            fields = ("probs", "labels", "idx")
        elif self.problem_type == MULTI:
            metrics = {
                "f1_micro": MultilabelF1Score(n, average="micro"), "f1_macro": MultilabelF1Score(n, average="macro"),
                "map": MultilabelAveragePrecision(n, average="macro"), "auroc": MultilabelAUROC(n, average="macro"),
                "exact_match": MultilabelExactMatch(n),
            }  # fmt: skip
            fields = ("probs", "labels", "idx")
        else:
            metrics = {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "pearson": PearsonCorrCoef(),
                       "spearman": SpearmanCorrCoef()}  # fmt: skip
            fields = ("preds", "labels", "idx")
        collection = MetricCollection(metrics)
        self.val_metrics, self.test_metrics = collection.clone(prefix="val/"), collection.clone(prefix="test/")
        if self.problem_type == MULTI:  # one value per label: logged as <stage>/<label>/f1 and .../auroc
            per_label = MetricCollection(
                {"f1": MultilabelF1Score(n, average=None), "auroc": MultilabelAUROC(n, average=None)}
            )
            self.val_per_label, self.test_per_label = per_label.clone(), per_label.clone()
        elif self.problem_type == SINGLE:  # <stage>/<label>/f1: e.g. GLUE MRPC's F1 is its positive class's
            per_label = MetricCollection({"f1": MulticlassF1Score(n, average=None)})
            self.val_per_label, self.test_per_label = per_label.clone(), per_label.clone()
        self.val_loss, self.test_loss = (MeanMetric() for _ in range(2))
        self.val_store, self.test_store = (PredictionStore(*fields) for _ in range(2))

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch).logits.float()  # (B, C); fp32 loss under any precision
        labels = batch["labels"]
        if self.problem_type == SINGLE:
            return F.cross_entropy(logits, labels, weight=self.loss_weights(logits)), logits
        if self.problem_type == MULTI:
            return F.binary_cross_entropy_with_logits(
                logits, labels.float(), pos_weight=self.loss_weights(logits)
            ), logits
        target = (labels.float() - self.shift) / self.scale  # (B,)
        return F.mse_loss(logits.squeeze(-1), target), logits

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, C) for classification; raw-scale scores (B,) for regression."""
        if self.problem_type == SINGLE:
            return logits.softmax(dim=-1)
        if self.problem_type == MULTI:
            return logits.sigmoid()
        return logits.squeeze(-1) * self.scale + self.shift

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self.loss_and_logits(batch)
        out, labels = self.outputs(logits), batch["labels"]
        metrics, mean_loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        mean_loss.update(loss, weight=len(labels))
        store = getattr(self, f"{stage}_store")
        if self.problem_type == MULTI:
            target = labels.long()
            predicted = (out >= torch.tensor(self.label_thresholds, device=out.device)).float()  # per-label cut
            for name, metric in metrics.items():
                metric.update(out if name.endswith(("map", "auroc")) else predicted, target)
            per_label = getattr(self, f"{stage}_per_label")
            per_label["f1"].update(predicted, target)
            per_label["auroc"].update(out, target)
            store.update(probs=out, labels=labels, idx=batch["idx"])
        elif self.problem_type == SINGLE:
            metrics.update(out, labels)
            getattr(self, f"{stage}_per_label").update(out, labels)
            store.update(probs=out, labels=labels, idx=batch["idx"])
        else:
            metrics.update(out, labels.float())
            store.update(preds=out, labels=labels.float(), idx=batch["idx"])

    def end_epoch(self, stage: str) -> None:
        """Compute (synced across ranks), log, reset; per-label scores for classification; keep the predictions."""
        metrics, loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        scores = {k: v for k, v in metrics.compute().items()} | {f"{stage}/loss": loss.compute()}
        if self.problem_type != REGRESSION:
            per_label = getattr(self, f"{stage}_per_label")
            for metric_name, values in per_label.compute().items():
                for label, value in zip(self.hparams.label_names, values, strict=True):
                    scores[f"{stage}/{label}/{metric_name}"] = value
            per_label.reset()
        self.log_dict(scores, prog_bar=False, sync_dist=False)  # already global: metric states were synced
        metrics.reset()
        loss.reset()
        self.keep_for_reports(stage)

    def export_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"task": self.task_name, "text_pair": bool(self.hparams.text_pair)}
        if self.problem_type == MULTI:
            info["thresholds"] = self.label_thresholds
        return info

    def export_state(self) -> dict[str, torch.Tensor]:
        """Regression: the normalisation folded into the head's last layer, so the exported model (and
        `transformers.pipeline`) gives raw-scale scores: w' = std * w, b' = std * b + mean."""
        state = super().export_state()
        if self.problem_type == REGRESSION and (self.shift, self.scale) != (0.0, 1.0):
            name = last_linear(self.model, out_features=1)
            state[f"{name}.weight"] = state[f"{name}.weight"] * self.scale
            state[f"{name}.bias"] = state[f"{name}.bias"] * self.scale + self.shift
        return state


def last_linear(model: torch.nn.Module, out_features: int) -> str:
    """Name of the head's output layer: the last nn.Linear producing `out_features` values."""
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.out_features == out_features]
    if not names:
        raise RuntimeError(f"{type(model).__name__}: no linear output layer of size {out_features} to export into.")
    return names[-1]
