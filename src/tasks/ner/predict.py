"""NER predictions: BIO word tags grouped into entities with character offsets (conlleval semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src.inference.words import tag_words, word_text
from src.tasks.ner.entities import entities
from src.utils.errors import ConfigError

if TYPE_CHECKING:
    from tqdm import tqdm

    from src.inference.predictor import Predictor


def check_labels(labels: list[str], where: str) -> None:
    bad = [t for t in labels if t != "O" and not t.startswith(("B-", "I-"))]
    if bad:
        raise ConfigError(
            f"{where}: token labels {bad} are not BIO tags (O, B-TYPE, I-TYPE); entities cannot be grouped. "
            "Fix: train with BIO-tagged data (config.json id2label), or use task tagging for other tag sets."
        )


def group_entities(text: str, tags: list[str], scores: list[float], spans: list[tuple[int, int]]) -> list[dict]:
    """BIO word tags -> entities with character offsets into `text` and the mean word score."""
    found = []
    for kind, first, last in sorted(entities(tags), key=lambda e: e[1]):
        start, end = word_text(text, (spans[first][0], spans[last][1]))
        words = scores[first : last + 1]
        found.append({"type": kind, "text": text[start:end], "start": start, "end": end,
                      "score": sum(words) / len(words)})  # fmt: skip
    return found


def predict(predictor: Predictor, rows: list[dict[str, Any]], bar: tqdm | None) -> list[dict]:
    texts = [r["text"] for r in rows]
    records = []
    for text, (layout, probs) in zip(texts, tag_words(predictor, texts, bar), strict=True):
        scores, tags = probs.max(-1)
        found = group_entities(text, [predictor.labels[i] for i in tags.tolist()], scores.tolist(), layout.spans)
        records.append({"entities": found})
    return records
