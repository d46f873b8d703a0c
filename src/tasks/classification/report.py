"""Report sections of sequence classification: single-label, multi-label and regression; pairs show both texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from torchmetrics.functional import pearson_corrcoef, spearman_corrcoef
from torchmetrics.functional.classification import (
    multiclass_auroc,
    multiclass_average_precision,
    multiclass_confusion_matrix,
    multiclass_precision_recall_curve,
    multiclass_roc,
    multilabel_auroc,
    multilabel_average_precision,
)

from src.data.base import column
from src.reports.figures import bar_figure, confusion_figure, curve_figure, histogram_figure, scatter_figure
from src.reports.report import Section, stage_title
from src.reports.tables import per_class_table
from src.tasks.classification.data import MULTI, SINGLE


def data_section(train: Dataset, info: dict[str, Any], max_length: int) -> Section:
    """Label balance (or the target histogram) and text lengths of the training data."""
    names, kind = info["label_names"], info["problem_type"]
    lengths = column(train, "full_length")
    truncated = float((lengths > max_length).mean()) if len(lengths) else 0.0
    section = Section("data", "Training data")
    if kind == SINGLE:
        counts = np.bincount(column(train, "labels"), minlength=len(names)).tolist()
        section.figures["class_distribution"] = bar_figure(
            dict(zip(names, counts, strict=True)), f"Training labels ({len(train)} rows)", "label"
        )
    elif kind == MULTI:
        counts = np.asarray(train["labels"]).sum(axis=0).astype(int).tolist()
        per_row = np.asarray(train["labels"]).sum(axis=1)
        section.figures["label_distribution"] = bar_figure(
            dict(zip(names, counts, strict=True)),
            f"Rows per label ({len(train)} rows, {per_row.mean():.2f} labels per row, "
            f"{(per_row == 0).mean():.0%} with none)",
            "label",
        )
    else:
        section.figures["target_distribution"] = histogram_figure(
            column(train, "labels").tolist(), None, f"Training targets ({len(train)} rows)", names[0]
        )
    what = "text pair" if info.get("text_pair") else "text"
    section.figures["token_lengths"] = histogram_figure(
        lengths.tolist(), max_length, f"Tokens per training {what} ({truncated:.1%} longer than max_length)", "tokens"
    )
    return section


def texts_of(split: Dataset, rows: Sequence[int]) -> dict[str, list[str]]:
    """The text (and text_pair) of `rows`, for example tables."""
    picked = split.select(list(rows))
    return {c: picked[c] for c in ("text", "text_pair") if c in split.column_names}


def eval_section(
    stage: str, predictions: dict[str, torch.Tensor], split: Dataset, info: dict, examples: int
) -> Section:
    kind = info["problem_type"]
    title = stage_title(stage)
    section = Section(stage, f"Evaluation: {title}")
    if kind == SINGLE:
        single_label(section, predictions, split, info["label_names"], examples, title)
    elif kind == MULTI:
        multi_label(section, predictions, split, info, examples)
    else:
        regression(section, predictions, split, info["label_names"][0], examples, title)
    return section


# ------------------------------------------------------------------------------------------- single label
def samples_table(
    probs: torch.Tensor, labels: torch.Tensor, names: Sequence[str], rows: list[tuple[int, str]], texts: dict
) -> pd.DataFrame:
    """One line per picked row: its text(s), gold and predicted label, the predicted probability."""
    confidence, predicted = probs.max(dim=-1)
    return pd.DataFrame(
        [{"kind": kind, **{c: texts[c][k] for c in texts}, "gold": names[labels[i]], "predicted": names[predicted[i]],
          "probability": round(float(confidence[i]), 4)} for k, (i, kind) in enumerate(rows)]
    )  # fmt: skip


def pick_rows(wrong: torch.Tensor, badness: torch.Tensor, n: int) -> list[tuple[int, str]]:
    """`n` seeded random rows, then the `n` wrong rows with the largest `badness`."""
    wrong_rows = torch.nonzero(wrong).flatten()
    worst = wrong_rows[torch.argsort(badness[wrong_rows], descending=True)][:n].tolist()
    sample = torch.randperm(len(wrong), generator=torch.Generator().manual_seed(0))[:n].tolist()
    return [(i, "random sample") for i in sample] + [(i, "confident mistake") for i in worst]


def _curves(probs: torch.Tensor, labels: torch.Tensor, names: Sequence[str], kind: str) -> dict:
    """Binary: the positive class's curve; more classes: one-vs-rest curve per class."""
    n = len(names)
    x_y = multiclass_roc(probs, labels, n) if kind == "roc" else multiclass_precision_recall_curve(probs, labels, n)
    first, second, _ = x_y  # roc: (fpr, tpr); pr: (precision, recall)
    pairs = {name: (first[i].tolist(), second[i].tolist()) for i, name in enumerate(names)}
    if kind == "pr":  # plot recall on x
        pairs = {name: (r, p) for name, (p, r) in pairs.items()}
    return {names[1]: pairs[names[1]]} if n == 2 else pairs


def single_label(section: Section, predictions: dict, split: Dataset, names: Sequence[str], n: int, title: str) -> None:
    """Confusion matrix, ROC and PR curves (AUROC/AP in titles), per-class table, sample predictions."""
    probs, labels, idx = predictions["probs"].float(), predictions["labels"].long(), predictions["idx"].long()
    k = len(names)
    matrix = multiclass_confusion_matrix(probs, labels, k).tolist()
    auroc = float(multiclass_auroc(probs, labels, k))
    per_class_ap = multiclass_average_precision(probs, labels, k, average=None)
    ap = float(per_class_ap[1]) if k == 2 else float(per_class_ap.mean())
    which = f"positive class '{names[1]}'" if k == 2 else "macro over classes"
    section.figures["confusion_matrix"] = confusion_figure(
        matrix, names, f"Confusion matrix, {title} ({len(labels)} texts)"
    )
    section.figures["roc_curve"] = curve_figure(_curves(probs, labels, names, "roc"), "roc", f"ROC, AUROC {auroc:.4f}")
    section.figures["pr_curve"] = curve_figure(
        _curves(probs, labels, names, "pr"), "pr", f"Precision-recall, AP {ap:.4f} ({which})"
    )
    section.tables["per_class"] = per_class_table(probs, labels, names)
    confidence, predicted = probs.max(dim=-1)
    rows = pick_rows(predicted != labels, confidence, n)
    section.tables["predictions"] = samples_table(
        probs, labels, names, rows, texts_of(split, [int(idx[i]) for i, _ in rows])
    )
    section.native = {
        "confusion": (labels.tolist(), probs.argmax(dim=-1).tolist(), list(names)),
        "roc": (labels.tolist(), probs.tolist(), list(names)),
        "pr": (labels.tolist(), probs.tolist(), list(names)),
    }


# ------------------------------------------------------------------------------------------- multi label
def per_label_table(
    probs: torch.Tensor, labels: torch.Tensor, names: Sequence[str], cut: Sequence[float]
) -> pd.DataFrame:
    """Precision, recall, F1 at each label's threshold, AUROC and AP, support (positives) per label."""
    predicted = probs >= torch.tensor(cut)
    gold = labels.bool()
    tp = (predicted & gold).sum(0).float()
    precision = torch.where(predicted.sum(0) > 0, tp / predicted.sum(0).clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(gold.sum(0) > 0, tp / gold.sum(0).clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), tp * 0)
    k = len(names)
    return pd.DataFrame({
        "label": list(names), "threshold": list(cut), "precision": precision.tolist(), "recall": recall.tolist(),
        "f1": f1.tolist(), "auroc": multilabel_auroc(probs, labels.long(), k, average=None).tolist(),
        "ap": multilabel_average_precision(probs, labels.long(), k, average=None).tolist(),
        "support": gold.sum(0).tolist(),
    })  # fmt: skip


def multi_label(section: Section, predictions: dict, split: Dataset, info: dict, n: int) -> None:
    """Per-label table and F1 bars; examples with gold and predicted label sets (worst: most wrong labels)."""
    names, cut = info["label_names"], info.get("thresholds") or [0.5] * len(info["label_names"])
    probs, labels, idx = predictions["probs"].float(), predictions["labels"].float(), predictions["idx"].long()
    table = per_label_table(probs, labels, names, cut)
    section.tables["per_label"] = table
    section.figures["per_label_f1"] = bar_figure(
        dict(zip(names, (round(v, 3) for v in table["f1"]), strict=True)), "F1 per label", "label", percent=False
    )
    predicted = probs >= torch.tensor(cut)
    errors = (predicted != labels.bool()).sum(dim=1)
    rows = pick_rows(errors > 0, errors.float(), n)
    texts = texts_of(split, [int(idx[i]) for i, _ in rows])

    def names_of(mask: torch.Tensor) -> str:
        return ", ".join(names[j] for j in torch.nonzero(mask).flatten().tolist()) or "(none)"

    section.tables["predictions"] = pd.DataFrame(
        [{"kind": "random sample" if kind == "random sample" else "most wrong labels",
          **{c: texts[c][k] for c in texts}, "gold": names_of(labels[i].bool()), "predicted": names_of(predicted[i]),
          "wrong labels": int(errors[i])} for k, (i, kind) in enumerate(rows)]
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- regression
def regression(section: Section, predictions: dict, split: Dataset, target: str, n: int, title: str) -> None:
    """Predicted-vs-gold scatter (Pearson/Spearman in the title) and the examples with the largest errors."""
    preds, gold, idx = predictions["preds"].float(), predictions["labels"].float(), predictions["idx"].long()
    pearson = float(pearson_corrcoef(preds, gold)) if len(gold) > 1 else float("nan")
    spearman = float(spearman_corrcoef(preds, gold)) if len(gold) > 1 else float("nan")
    section.figures["scatter"] = scatter_figure(
        gold.tolist(), preds.tolist(),
        f"Predicted vs gold {target}, {title}: Pearson {pearson:.4f}, Spearman {spearman:.4f}", f"gold {target}",
        f"predicted {target}",
    )  # fmt: skip
    error = (preds - gold).abs()
    rows = pick_rows(error > 0, error, n)
    texts = texts_of(split, [int(idx[i]) for i, _ in rows])
    section.tables["predictions"] = pd.DataFrame(
        [{"kind": "random sample" if kind == "random sample" else "largest error", **{c: texts[c][k] for c in texts},
          "gold": round(float(gold[i]), 4), "predicted": round(float(preds[i]), 4),
          "error": round(float(preds[i] - gold[i]), 4)} for k, (i, kind) in enumerate(rows)]
    )  # fmt: skip
