"""Config keys of sequence classification: its data (one text or a pair; labels of every shape) and `task.threshold`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from src.data.config import DataConfig
from src.data.sequences import TRUNCATION_MODES
from src.tasks.config import TaskConfig
from src.utils.schema import key

# data.problem_type: ours, and the Hugging Face names
PROBLEM_TYPES = (
    "single_label",
    "multi_label",
    "regression",
    "single_label_classification",
    "multi_label_classification",
)


def _label_column(value: Any) -> str | None:
    ok = isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
    return None if ok else "not a column name or a list of column names"


def _threshold(value: Any) -> str | None:
    if isinstance(value, Mapping):
        values = list(value.values())
    elif isinstance(value, list):
        values = value
    else:
        values = [value]
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in values)
    return None if ok else "probabilities must lie strictly between 0 and 1"


@dataclass
class TextData(DataConfig):
    """`data.*` of sequence classification (data/_text: imdb, sick_*, semeval_ec, glue_*)."""

    text_column: str = key("text", "the column of texts (a pair's first text)")
    text_pair_column: str | None = key(
        None,
        "sentence pairs: the column of the second text (hypothesis, answer...), tokenized with the first as one pair",
    )
    label_column: Any = key(
        "label",
        "one column of labels, or a list of 0/1 columns, one per label (multi-label)",
        check=_label_column,
        allowed="a column name or a list of column names",
    )
    label_names: list[str] | None = key(None, "null = read from the data; integer labels are indices into this list")
    problem_type: str | None = key(None, "null = inferred from the labels (and logged)", choices=(None, *PROBLEM_TYPES))
    label_delimiter: str | None = key(None, 'multi-label labels in one string column, e.g. "," for "joy,love"')
    normalize_targets: bool = key(
        True, "regression: learn (y - mean) / std of train; predictions and the exported model give raw-scale scores"
    )
    truncation: str = key(
        "head", "single texts: which part of a long text is kept (pairs: longest_first)", choices=TRUNCATION_MODES
    )
    head_tokens: int = key(128, "truncation=head+tail: tokens kept from the start, the rest from the end", ge=1)


@dataclass
class ClassificationOptions(TaskConfig):
    """`task.*` of sequence classification."""

    threshold: Any = key(
        0.5,
        "multi-label: probability above which a label is predicted; one number, a list in label order, or {label: p}",
        check=_threshold,
        safe=False,
        allowed="a probability (0 < p < 1), a list of them, or {label: p}",
    )


SCHEMAS = {"data/_text": TextData, "task/_classification": ClassificationOptions}
