"""Config keys of multiple choice: its data (a question, an optional context, 2+ choices, the gold answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from src.data.config import DataConfig
from src.utils.schema import key, redefault


def _choices_column(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return None
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return None if len(value) >= 2 else "one column per choice needs at least 2 columns"
    return "not a column name or a list of column names"


@dataclass
class MultipleChoiceData(DataConfig):
    """`data.*` of multiple choice (data/_choices: commonsense_qa)."""

    question_column: str = key("question", "the column of questions (SWAG: sent2, the start the endings complete)")
    context_column: str | None = key(
        None, "a passage or dialogue per question (RACE, DREAM; SWAG: sent1), cut first when too long; null = none"
    )
    choices_column: Any = key(
        "choices",
        "a list column (or the hub's {label, text} struct), or one column per choice [ending0, ending1, ...] "
        "whose empty last cells are absent choices",
        check=_choices_column,
        allowed="a column name or a list of at least 2 column names",
    )
    choice_labels_column: str | None = key(
        None, "a list column of each question's choice labels (letters) a letter gold refers to; null = the struct's "
        "labels, else A, B, C... by position",
    )  # fmt: skip
    label_column: str = key(
        "label", "the gold answer: a 0-based index, a letter or the answer's text (which one is read from the data)"
    )
    max_length: int = redefault(DataConfig, "max_length", 128)


SCHEMAS = {"data/_choices": MultipleChoiceData}
