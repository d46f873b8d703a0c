"""Report sections of extractive question answering.

Data: windows per question, answer lengths in words, context lengths in tokens, and the answers training
could not label exactly (cut by the windows, not on token boundaries). Evaluation: EM and F1 by question
word and by gold answer length, and the questions with the lowest F1 (question, gold, prediction), read
from the split's rows (a question's first window holds its texts).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import torch
from datasets import Dataset

from src.data.base import column, values
from src.reports.figures import bar_figure, histogram_figure
from src.reports.report import Section, stage_title

QUESTION_WORDS = ("what", "who", "when", "where", "which", "why", "how")
LENGTHS = ("1", "2", "3-4", "5+")


def data_section(train: Dataset, info: dict[str, Any], max_length: int) -> Section:
    """Windows per question, answer lengths, context lengths, and the answers labelled inexactly."""
    first = column(train, "window") == 0
    windows = np.bincount(column(train, "example"))
    windows = windows[windows > 0]
    answerable = first & column(train, "answerable")
    words, tokens = column(train, "answer_words")[answerable], column(train, "context_tokens")[first]
    section = Section("data", "Training data")
    section.figures["windows_per_question"] = bar_figure(
        {f"{k} window{'s' if k > 1 else ''}": int(v) for k, v in sorted(Counter(windows.tolist()).items())},
        f"Windows per question ({int(first.sum())} questions, {len(train)} windows)", "windows",
    )  # fmt: skip
    median = float(np.median(words)) if len(words) else 0.0
    section.figures["answer_words"] = histogram_figure(
        words.tolist(), None, f"Answer length ({len(words)} answers, median {median:g} words)", "words"
    )
    section.figures["context_tokens"] = histogram_figure(
        tokens.tolist(), max_length, "Context length in tokens (a window holds max_length with the question)", "tokens"
    )
    counts = {
        "questions": int(first.sum()),
        "without an answer": int((first & ~column(train, "answerable")).sum()),
        "contexts read in several windows": int(column(train, "truncated").sum()),
        "answers in no window whole (labelled CLS)": int(column(train, "cut").sum()),
        "answers not on token boundaries": int(column(train, "unaligned").sum()),
    }
    section.tables["answers"] = pd.DataFrame({"what": list(counts), "count": list(counts.values())})
    return section


def question_word(question: str) -> str:
    """The first wh-word of the question (who also for whom/whose), else "other"."""
    for word in question.lower().replace("?", " ").split():
        for wh in QUESTION_WORDS:
            if word == wh or (wh == "who" and word in ("whom", "whose")):
                return wh
    return "other"


def length_bucket(golds: list[str]) -> str:
    """The first gold answer's length in words: 1, 2, 3-4, 5+ (or "no answer")."""
    words = len(golds[0].split()) if golds and golds[0] else 0
    return "no answer" if words == 0 else "1" if words == 1 else "2" if words == 2 else "3-4" if words <= 4 else "5+"


def final_scores(predictions: dict[str, torch.Tensor], info: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EM, F1 per question as reported (v2: no answer where diff > threshold) and whether it answered."""
    em, f1 = predictions["em"].double(), predictions["f1"].double()
    answered = predictions["start"] >= 0
    if info.get("version_2"):
        null = predictions["diff"] > float(info.get("threshold", 0.0))
        right = (~predictions["has_answer"].bool()).double()
        em, f1, answered = torch.where(null, right, em), torch.where(null, right, f1), answered & ~null
    return em, f1, answered


def eval_section(
    stage: str, predictions: dict[str, torch.Tensor], split: Dataset, info: dict, examples: int
) -> Section:
    """EM/F1 by question word and by answer length; the lowest-F1 questions."""
    em, f1, answered = final_scores(predictions, info)
    firsts = split.select(np.flatnonzero(column(split, "window") == 0))
    texts = {k: dict(zip(values(firsts, "example"), values(firsts, k), strict=True))
             for k in ("question", "context", "golds")}  # fmt: skip
    ids = predictions["example"].tolist()
    frame = pd.DataFrame({
        "question_word": [question_word(texts["question"][i]) for i in ids],
        "answer_length": [length_bucket(texts["golds"][i]) for i in ids],
        "exact_match": em.tolist(), "f1": f1.tolist(),
    })  # fmt: skip
    title = stage_title(stage)
    section = Section(stage, f"Evaluation: {title}")
    for key, order in (("question_word", [*QUESTION_WORDS, "other"]), ("answer_length", [*LENGTHS, "no answer"])):
        table = breakdown(frame, key, order)
        section.tables[f"by_{key}"] = table
        section.figures[f"f1_by_{key}"] = bar_figure(
            dict(zip(table[key], table["f1"].round(3), strict=True)), f"F1 by {key.replace('_', ' ')}, {title}",
            key.replace("_", " "), percent=False,
        )  # fmt: skip
    section.tables["worst_questions"] = worst(predictions, f1, answered, texts, examples)
    return section


def breakdown(frame: pd.DataFrame, key: str, order: list[str]) -> pd.DataFrame:
    """Questions, EM and F1 per value of `key`, in `order` (values absent from the split are left out)."""
    grouped = frame.groupby(key).agg(questions=("f1", "size"), exact_match=("exact_match", "mean"), f1=("f1", "mean"))
    grouped = grouped.reindex([v for v in order if v in grouped.index])
    return grouped.reset_index()


def worst(predictions: dict, f1: torch.Tensor, answered: torch.Tensor, texts: dict, n: int) -> pd.DataFrame:
    """The `n` questions with the lowest F1 (ties: split order): question, gold answers, prediction."""
    ids = predictions["example"]
    order = sorted(range(len(ids)), key=lambda i: (float(f1[i]), int(ids[i])))[:n]
    rows = []
    for i in order:
        q = int(ids[i])
        start, end = int(predictions["start"][i]), int(predictions["end"][i])
        predicted = texts["context"][q][start:end] if answered[i] else "(no answer)"
        golds = [g for g in texts["golds"][q] if g] or ["(no answer)"]
        rows.append({"question": texts["question"][q], "gold": " | ".join(dict.fromkeys(golds)),
                     "predicted": predicted, "f1": round(float(f1[i]), 4)})  # fmt: skip
    return pd.DataFrame(rows, columns=["question", "gold", "predicted", "f1"])


def summary_table(predictions: dict[str, torch.Tensor], info: dict) -> pd.DataFrame:
    """Questions answered and left unanswered, with their EM and F1 (console summary after the test)."""
    em, f1, answered = final_scores(predictions, info)
    rows = []
    for name, keep in (("answered", answered), ("no answer predicted", ~answered), ("all", torch.ones_like(answered))):
        if keep.any():
            rows.append({"questions": name, "count": int(keep.sum()), "exact_match": round(float(em[keep].mean()), 4),
                         "f1": round(float(f1[keep].mean()), 4)})  # fmt: skip
    return pd.DataFrame(rows)
