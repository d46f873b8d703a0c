"""Report sections of word tagging: tag distribution; per-tag precision/recall/F1 and the confusion matrix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd
import torch
from datasets import Dataset
from torchmetrics.functional.classification import multiclass_f1_score, multiclass_precision, multiclass_recall

from src.reports.figures import bar_figure, confusion_figure
from src.reports.report import Section, stage_title


def data_section(train: Dataset, names: Sequence[str]) -> Section:
    counts = Counter(names[t] for tags in train["tags"] for t in tags)
    section = Section("data", "Training data")
    section.figures["tag_distribution"] = bar_figure(dict(counts.most_common()), "Training words per tag", "tag")
    return section


def per_tag_table(pred: torch.Tensor, gold: torch.Tensor, names: Sequence[str]) -> pd.DataFrame:
    n = len(names)
    columns = {
        "precision": multiclass_precision(pred, gold, n, average=None),
        "recall": multiclass_recall(pred, gold, n, average=None),
        "f1": multiclass_f1_score(pred, gold, n, average=None),
    }
    table = pd.DataFrame({"tag": list(names), **{k: v.tolist() for k, v in columns.items()}})
    table["support"] = torch.bincount(gold, minlength=n).tolist()
    return table.sort_values("support", ascending=False)


def eval_section(stage: str, predictions: dict[str, torch.Tensor], names: Sequence[str]) -> Section:
    pred, gold = predictions["pred"].long(), predictions["gold"].long()
    title = stage_title(stage)
    section = Section(stage, f"Evaluation: {title}")
    section.tables["per_tag"] = per_tag_table(pred, gold, names)
    n = len(names)
    matrix = torch.zeros(n, n, dtype=torch.long).index_put_((gold, pred), torch.ones_like(gold), accumulate=True)
    section.figures["confusion_matrix"] = confusion_figure(matrix.tolist(), names, f"Tag confusion (words), {title}")
    section.native = {"confusion": (gold.tolist(), pred.tolist(), list(names))}
    return section
