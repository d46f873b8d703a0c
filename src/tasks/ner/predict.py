"""NER predictions: BIO word tags grouped into entities with character offsets (conlleval semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src.inference.predictor import Encoded, Outputs
from src.tasks.ner.entities import entities
from src.tasks.words.predict import tagged_words, word_text
from src.utils.errors import ConfigError

if TYPE_CHECKING:
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


def decode(predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list[dict]:
    records = []
    for row, (layout, probs) in zip(rows, tagged_words(predictor, encoded, outputs), strict=True):
        scores, tags = probs.max(-1)
        tag_names = [predictor.labels[i] for i in tags.tolist()]
        records.append({"entities": group_entities(row["text"], tag_names, scores.tolist(), layout.spans)})
    return records


def pipeline_records(pipe: Any, rows: list[dict[str, Any]]) -> list[dict]:
    """`pipeline("token-classification", aggregation_strategy="first")`: each word takes its first sub-token's
    tag, as training does, so the entities' types and character spans are ours."""
    records = []
    for row in rows:
        found = pipe(row["text"], aggregation_strategy="first")
        records.append({"entities": [{"type": e["entity_group"], "start": e["start"], "end": e["end"]} for e in found]})
    return records
