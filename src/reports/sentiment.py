"""Report sections of the sentiment (text classification) task."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from datasets import Dataset
from torchmetrics.functional.classification import (
    multiclass_auroc,
    multiclass_average_precision,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_precision_recall_curve,
    multiclass_recall,
    multiclass_roc,
)

from src.reports.figures import bar_figure, confusion_figure, curve_figure, histogram_figure
from src.reports.report import Section


def data_section(train: Dataset, label_names: Sequence[str], max_length: int) -> Section:
    """Class balance and review lengths of the training data: padding and truncation at a glance."""
    counts = torch.bincount(torch.tensor(train["labels"]), minlength=len(label_names)).tolist()
    lengths = train["full_length"]
    truncated = sum(length > max_length for length in lengths) / max(len(lengths), 1)
    section = Section("data", "Training data")
    section.figures["class_distribution"] = bar_figure(
        dict(zip(label_names, counts, strict=True)), f"Training labels ({len(train)} rows)", "label"
    )
    section.figures["token_lengths"] = histogram_figure(
        lengths, max_length, f"Tokens per training text ({truncated:.1%} longer than max_length)", "tokens"
    )
    return section


def per_class_table(probs: torch.Tensor, labels: torch.Tensor, names: Sequence[str]) -> pd.DataFrame:
    n = len(names)
    columns = {
        "precision": multiclass_precision(probs, labels, n, average=None),
        "recall": multiclass_recall(probs, labels, n, average=None),
        "f1": multiclass_f1_score(probs, labels, n, average=None),
    }
    table = pd.DataFrame({"label": list(names), **{k: v.tolist() for k, v in columns.items()}})
    table["support"] = torch.bincount(labels, minlength=n).tolist()
    return table


def samples_table(
    probs: torch.Tensor,
    labels: torch.Tensor,
    texts: Sequence[str],
    names: Sequence[str],
    n_random: int,
    n_mistakes: int,
) -> pd.DataFrame:
    """A seeded random sample of predictions, then the most confident mistakes."""
    confidence, predicted = probs.max(dim=-1)
    wrong = torch.nonzero(predicted != labels).flatten()
    mistakes = wrong[torch.argsort(confidence[wrong], descending=True)][:n_mistakes].tolist()
    generator = torch.Generator().manual_seed(0)
    sample = torch.randperm(len(labels), generator=generator)[:n_random].tolist()
    rows = [(i, "random sample") for i in sample] + [(i, "confident mistake") for i in mistakes]
    return pd.DataFrame(
        [
            {"kind": kind, "text": texts[i], "gold": names[labels[i]], "predicted": names[predicted[i]],
             "probability": round(float(confidence[i]), 4)}
            for i, kind in rows
        ]
    )  # fmt: skip


def _curves(probs: torch.Tensor, labels: torch.Tensor, names: Sequence[str], kind: str) -> dict:
    """Binary: the positive class's curve; more classes: one-vs-rest curve per class."""
    n = len(names)
    x_y = multiclass_roc(probs, labels, n) if kind == "roc" else multiclass_precision_recall_curve(probs, labels, n)
    first, second, _ = x_y  # roc: (fpr, tpr); pr: (precision, recall)
    pairs = {name: (first[i].tolist(), second[i].tolist()) for i, name in enumerate(names)}
    if kind == "pr":  # plot recall on x
        pairs = {name: (r, p) for name, (p, r) in pairs.items()}
    return {names[1]: pairs[names[1]]} if n == 2 else pairs


def eval_section(
    stage: str,
    predictions: dict[str, torch.Tensor],
    split: Dataset,
    names: Sequence[str],
    n_samples: int,
    n_mistakes: int,
) -> Section:
    """Confusion matrix, ROC and PR curves (AUROC/AP in titles), per-class table, sample predictions."""
    probs, labels, idx = predictions["probs"].float(), predictions["labels"].long(), predictions["idx"].long()
    n = len(names)
    texts = split.select(idx.tolist())["text"]
    matrix = multiclass_confusion_matrix(probs, labels, n).tolist()
    auroc = float(multiclass_auroc(probs, labels, n))
    per_class_ap = multiclass_average_precision(probs, labels, n, average=None)
    ap = float(per_class_ap[1]) if n == 2 else float(per_class_ap.mean())
    which = f"positive class '{names[1]}'" if n == 2 else "macro over classes"
    title = "validation (best epoch)" if stage == "val" else "test"
    section = Section(stage, f"Evaluation: {title}")
    section.figures["confusion_matrix"] = confusion_figure(
        matrix, names, f"Confusion matrix, {title} ({len(labels)} texts)"
    )
    section.figures["roc_curve"] = curve_figure(_curves(probs, labels, names, "roc"), "roc", f"ROC, AUROC {auroc:.4f}")
    section.figures["pr_curve"] = curve_figure(
        _curves(probs, labels, names, "pr"), "pr", f"Precision-recall, AP {ap:.4f} ({which})"
    )
    section.tables["per_class"] = per_class_table(probs, labels, names)
    section.tables["predictions"] = samples_table(probs, labels, texts, names, n_samples, n_mistakes)
    y_pred = probs.argmax(dim=-1).tolist()
    section.native = {
        "confusion": (labels.tolist(), y_pred, list(names)),
        "roc": (labels.tolist(), probs.tolist(), list(names)),
        "pr": (labels.tolist(), probs.tolist(), list(names)),
    }
    return section
