"""Report sections of multiple choice: choices per question, where the gold answer sits and token lengths (data);
accuracy by number of choices and by gold position, and the most confident mistakes (evaluation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from datasets import Dataset

from src.data.base import column, values
from src.reports.figures import bar_figure, histogram_figure
from src.reports.report import Section, stage_title
from src.utils.console import format_frame


def letter(index: int) -> str:
    """A choice position as a letter (A = the first choice): bar labels that matplotlib does not read as numbers."""
    return chr(ord("A") + index) if index < 26 else str(index)


def counts(keys: np.ndarray, name: Any = str) -> dict[str, int]:
    """How many times each value occurs, in value order, as bar-figure input (`name`: the bar label of a value)."""
    found, number = np.unique(keys, return_counts=True)
    return {name(k): int(c) for k, c in zip(found.tolist(), number.tolist(), strict=True)}


def data_section(train: Dataset, info: dict[str, Any], max_length: int) -> Section:
    n = len(train)
    cut = float(column(train, "truncated").mean()) if n else 0.0
    section = Section("data", "Training data")
    section.figures["choices_per_question"] = bar_figure(
        counts(column(train, "n_choices"), lambda k: f"{k} choices"), f"Choices per question ({n} questions)", "choices"
    )
    section.figures["gold_index"] = bar_figure(
        counts(column(train, "labels"), letter), "Position of the gold answer (A = first choice)", "gold answer"
    )
    what = "context, question + choice" if info.get("context") else "question + choice"
    section.figures["token_lengths"] = histogram_figure(
        column(train, "length").tolist(), max_length,
        f"Tokens of a question's longest sequence ({what}); {cut:.1%} cut to max_length", "tokens",
    )  # fmt: skip
    return section


def outcome(predictions: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gold index, predicted index and whether right, (N,) each; padded choices have probability 0, never the max."""
    gold, predicted = predictions["labels"].long(), predictions["probs"].float().argmax(dim=-1)
    return gold, predicted, predicted == gold


def by_choices_table(predictions: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Accuracy of the questions with 2, 3, ... choices (chance: 1 / choices)."""
    _, _, right = outcome(predictions)
    n = predictions["n_choices"].long()
    rows = [{"choices": k, "questions": int((n == k).sum()), "accuracy": float(right[n == k].float().mean()),
             "chance": 1 / k} for k in sorted(set(n.tolist()))]  # fmt: skip
    return pd.DataFrame(rows, columns=["choices", "questions", "accuracy", "chance"])


def by_gold_index_table(predictions: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Per position: questions whose gold answer is there, their accuracy, and how often the model picks it (a
    share far from the gold share is a position bias)."""
    gold, predicted, right = outcome(predictions)
    total = max(len(gold), 1)
    rows = []
    for k in range(predictions["probs"].shape[1] if len(gold) else 0):
        here = gold == k
        accuracy = float(right[here].float().mean()) if here.any() else float("nan")
        shares = {"gold share": int(here.sum()) / total, "predicted share": int((predicted == k).sum()) / total}
        rows.append({"gold index": k, "questions": int(here.sum()), "accuracy": accuracy, **shares})
    return pd.DataFrame(rows, columns=["gold index", "questions", "accuracy", "gold share", "predicted share"])


def hardest_table(predictions: dict[str, torch.Tensor], split: Dataset, n: int) -> pd.DataFrame:
    """The `n` wrong answers given with the highest probability, with their question, choices and gold."""
    gold, predicted, right = outcome(predictions)
    probs, idx = predictions["probs"].float(), predictions["idx"].long()
    wrong = torch.nonzero(~right).flatten()
    worst = wrong[torch.argsort(probs[wrong, predicted[wrong]], descending=True, stable=True)][:n].tolist()
    picked = split.select([int(idx[i]) for i in worst])
    texts = {c: values(picked, c) for c in ("context", "question", "choices") if c in split.column_names}
    rows = []
    for k, i in enumerate(worst):
        choices, g, p = texts["choices"][k], int(gold[i]), int(predicted[i])
        listed = " | ".join(f"{j}: {c}" for j, c in enumerate(choices))
        rows.append({**({"context": texts["context"][k]} if "context" in texts else {}),
                     "question": texts["question"][k], "choices": listed,
                     "gold": choices[g], "predicted": choices[p], "probability": round(float(probs[i, p]), 4),
                     "gold probability": round(float(probs[i, g]), 4)})  # fmt: skip
    return pd.DataFrame(rows)


def eval_section(stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section:
    title = stage_title(stage)
    section = Section(stage, f"Evaluation: {title}")
    _, _, right = outcome(predictions)
    section.tables["accuracy_by_choices"] = by_choices_table(predictions)
    table = by_gold_index_table(predictions)
    section.tables["accuracy_by_gold_index"] = table
    section.figures["accuracy_by_gold_index"] = bar_figure(
        {letter(k): round(a, 3) for k, a in zip(table["gold index"], table["accuracy"].fillna(0.0), strict=True)},
        f"Accuracy by gold answer position, {title} (overall {float(right.float().mean()):.1%})", "gold answer",
        percent=False,
    )  # fmt: skip
    section.tables["hardest"] = hardest_table(predictions, split, examples)
    return section


def console_summary(predictions: dict[str, torch.Tensor]) -> str:
    return "\n\n".join([
        format_frame(by_choices_table(predictions), "test accuracy by number of choices"),
        format_frame(by_gold_index_table(predictions), "test accuracy by gold answer position"),
    ])  # fmt: skip
