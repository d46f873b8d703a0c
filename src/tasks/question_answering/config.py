"""Config keys of extractive question answering: its data (SQuAD schema) and windows."""

from __future__ import annotations

from dataclasses import dataclass

from src.data.config import DataConfig
from src.utils.schema import key, redefault


@dataclass
class QuestionAnsweringData(DataConfig):
    """`data.*` of question answering (data/_qa: squad, squad_v2)."""

    question_column: str = key("question", "the column of questions")
    context_column: str = key("context", "the column of contexts (the passages answers are spans of)")
    answers_column: str = key(
        "answers",
        "SQuAD schema {text: [...], answer_start: [...]}: character starts in the "
        "context; a v2 unanswerable question has empty lists",
    )
    id_column: str = key("id", "names questions in the reports; a data set without this column gets row numbers")
    version_2: bool | None = key(None, "null = inferred (true if a train/validation question has no answer; logged)")
    doc_stride: int = key(128, "tokens shared by consecutive windows of a long context (as run_qa.py)", ge=0)
    max_answer_length: int = key(30, "longest predicted answer, in tokens", ge=1)
    n_best: int = key(20, "start and end candidates per window in the span search (utils_qa.py's n_best_size)", ge=1)
    max_length: int = redefault(DataConfig, "max_length", 384)
    batch_size: int = redefault(DataConfig, "batch_size", 32)


SCHEMAS = {"data/_qa": QuestionAnsweringData}
