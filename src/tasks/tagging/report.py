"""Report sections of word tagging: tag distribution; per-tag precision/recall/F1 and the confusion matrix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd
import torch
from datasets import Dataset

from src.reports.figures import bar_figure, confusion_figure
from src.reports.report import Section, stage_title
from src.reports.tables import per_class_table


def data_section(train: Dataset, names: Sequence[str]) -> Section:
    counts = Counter(names[t] for tags in train["tags"] for t in tags)
    section = Section("data", "Training data")
    section.figures["tag_distribution"] = bar_figure(dict(counts.most_common()), "Training words per tag", "tag")
    return section


def per_tag_table(pred: torch.Tensor, gold: torch.Tensor, names: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per tag, the most frequent tags first."""
    return per_class_table(pred, gold, names, header="tag").sort_values("support", ascending=False)


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
