"""Tables several tasks' reports share."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torchmetrics.functional.classification import multiclass_f1_score, multiclass_precision, multiclass_recall


def per_class_table(
    predicted: torch.Tensor, gold: torch.Tensor, names: Sequence[str], header: str = "label"
) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class; `predicted` is (N,) ids or (N, C) probabilities."""
    n = len(names)
    columns = {
        "precision": multiclass_precision(predicted, gold, n, average=None),
        "recall": multiclass_recall(predicted, gold, n, average=None),
        "f1": multiclass_f1_score(predicted, gold, n, average=None),
    }
    table = pd.DataFrame({header: list(names), **{k: v.tolist() for k, v in columns.items()}})
    table["support"] = torch.bincount(gold, minlength=n).tolist()
    return table
