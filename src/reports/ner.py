"""Report sections of the NER (token classification) task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd
import torch
from datasets import Dataset

from src.models.entities import EntityF1, entities
from src.reports.figures import bar_figure, confusion_figure, histogram_figure
from src.reports.report import Section


def _first_windows(split: Dataset) -> Dataset:
    """One row per sentence: the first window carries the sentence's words and gold tags."""
    return split.filter(lambda row: len(row["tags"]) > 0, keep_in_memory=True)


def data_section(train: Dataset, label_names: Sequence[str], max_length: int) -> Section:
    """Entity types and sentence lengths (words, sub-tokens) of the training data."""
    sentences = _first_windows(train)
    types = Counter(kind for tags in sentences["tags"] for kind, _, _ in entities([label_names[t] for t in tags]))
    windows_per_sentence = Counter(train["sentence"])
    section = Section("data", "Training data")
    section.figures["entity_types"] = bar_figure(
        dict(sorted(types.items())), f"Training entities ({len(sentences)} sentences)", "type"
    )
    section.figures["sentence_lengths"] = histogram_figure(
        [len(w) for w in sentences["words"]], None, "Words per training sentence", "words"
    )
    long = sum(n > 1 for n in windows_per_sentence.values())
    section.figures["subtoken_lengths"] = histogram_figure(
        train["length"], max_length, f"Sub-tokens per window ({long} sentences split into windows)", "sub-tokens"
    )
    return section


def _spans(tags: Sequence[str], words: Sequence[str]) -> list[str]:
    return [f"{kind}: {' '.join(words[a : b + 1])}" for kind, a, b in sorted(entities(tags), key=lambda e: e[1])]


def eval_section(
    stage: str, predictions: dict[str, torch.Tensor], split: Dataset, names: Sequence[str], n_worst: int
) -> Section:
    """Per-type P/R/F1 table, tag confusion matrix (words), and the sentences with the most entity errors."""
    sentence, pred, gold = (predictions[k].long() for k in ("sentence", "pred", "gold"))
    firsts = _first_windows(split)
    words = dict(zip(firsts["sentence"], firsts["words"], strict=True))
    by_sentence: dict[int, tuple[list[int], list[int]]] = {}
    for s, p, g in zip(sentence.tolist(), pred.tolist(), gold.tolist(), strict=True):
        by_sentence.setdefault(s, ([], []))[0].append(p)
        by_sentence[s][1].append(g)
    metric = EntityF1(names)
    metric.update([p for p, _ in by_sentence.values()], [g for _, g in by_sentence.values()])
    scores = metric.compute()
    rows = [
        {
            "type": kind,
            **{m: scores[f"{kind}/{m}"] for m in ("precision", "recall", "f1")},
            "support": int(scores[f"{kind}/support"]),
        }
        for kind in metric.types
    ]
    rows.append({"type": "all (micro)", **{m: scores[m] for m in ("precision", "recall", "f1")},
                 "support": int(sum(r["support"] for r in rows))})  # fmt: skip
    title = "validation (best epoch)" if stage == "val" else "test"
    section = Section(stage, f"Evaluation: {title}")
    section.tables["per_type"] = pd.DataFrame(rows)
    section.tables["worst_sentences"] = _worst(by_sentence, words, names, n_worst)
    n = len(names)
    matrix = torch.zeros(n, n, dtype=torch.long).index_put_((gold, pred), torch.ones_like(gold), accumulate=True)
    section.figures["tag_confusion_matrix"] = confusion_figure(
        matrix.tolist(), names, f"Tag confusion (words), {title}"
    )
    section.native = {"confusion": (gold.tolist(), pred.tolist(), list(names))}
    return section


def _worst(by_sentence: dict, words: dict, names: Sequence[str], n_worst: int) -> pd.DataFrame:
    rows = []
    for s, (p, g) in by_sentence.items():
        p_tags, g_tags = [names[t] for t in p], [names[t] for t in g]
        predicted, gold = entities(p_tags), entities(g_tags)
        errors = len(predicted ^ gold)  # spurious + missed (a wrong type or boundary counts twice)
        if errors:
            text = words.get(s, [])
            rows.append({"sentence": " ".join(text), "gold": "; ".join(_spans(g_tags, text)),
                         "predicted": "; ".join(_spans(p_tags, text)), "errors": errors})  # fmt: skip
    rows.sort(key=lambda r: -r["errors"])
    return pd.DataFrame(rows[:n_worst], columns=["sentence", "gold", "predicted", "errors"])
