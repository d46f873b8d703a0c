"""Report sections of the NER (token classification) task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd
import torch
from datasets import Dataset

from src.reports.figures import bar_figure, confusion_figure, histogram_figure
from src.reports.report import Section, stage_title
from src.tasks.ner.entities import EntityF1, entities


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
    pred, gold = (predictions[k].long() for k in ("pred", "gold"))
    firsts = _first_windows(split)
    words = dict(zip(firsts["sentence"], firsts["words"], strict=True))
    title = stage_title(stage)
    section = Section(stage, f"Evaluation: {title}")
    section.tables["per_type"] = per_type_table(predictions, names)
    section.tables["worst_sentences"] = _worst(per_sentence(predictions), words, names, n_worst)
    n = len(names)
    matrix = torch.zeros(n, n, dtype=torch.long).index_put_((gold, pred), torch.ones_like(gold), accumulate=True)
    section.figures["tag_confusion_matrix"] = confusion_figure(
        matrix.tolist(), names, f"Tag confusion (words), {title}"
    )
    section.native = {"confusion": (gold.tolist(), pred.tolist(), list(names))}
    return section


def per_type_table(predictions: dict[str, torch.Tensor], names: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per entity type, then the micro average over all entities."""
    metric = EntityF1(names)
    metric.update(*sentences(predictions))
    scores = metric.compute()
    rows = [
        {"type": kind, **{m: scores[f"{kind}/{m}"] for m in ("precision", "recall", "f1")},
         "support": int(scores[f"{kind}/support"])}
        for kind in metric.types
    ]  # fmt: skip
    rows.append({"type": "all (micro)", **{m: scores[m] for m in ("precision", "recall", "f1")},
                 "support": int(sum(r["support"] for r in rows))})  # fmt: skip
    return pd.DataFrame(rows)


def per_sentence(predictions: dict[str, torch.Tensor]) -> dict[int, tuple[list[int], list[int]]]:
    """{sentence id: (predicted tag ids, gold tag ids)} from the per-word predictions a module keeps."""
    by_sentence: dict[int, tuple[list[int], list[int]]] = {}
    sentence, pred, gold = (predictions[k].long().tolist() for k in ("sentence", "pred", "gold"))
    for s, p, g in zip(sentence, pred, gold, strict=True):
        by_sentence.setdefault(s, ([], []))[0].append(p)
        by_sentence[s][1].append(g)
    return by_sentence


def sentences(predictions: dict[str, torch.Tensor]) -> tuple[list[list[int]], list[list[int]]]:
    """(predicted, gold) tag-id lists, one per sentence."""
    by_sentence = per_sentence(predictions)
    return [p for p, _ in by_sentence.values()], [g for _, g in by_sentence.values()]


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
