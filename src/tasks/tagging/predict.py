"""Word tagging predictions: every word of the text with its tag, probability and character offsets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src.inference.predictor import Encoded, Outputs
from src.tasks.words.predict import tagged_words, word_text

if TYPE_CHECKING:
    from src.inference.predictor import Predictor


def decode(predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list[dict]:
    records = []
    for row, (layout, probs) in zip(rows, tagged_words(predictor, encoded, outputs), strict=True):
        text, (scores, tags) = row["text"], probs.max(-1)
        words = []
        for span, tag, score in zip(layout.spans, tags.tolist(), scores.tolist(), strict=True):
            start, end = word_text(text, span)
            words.append({"word": text[start:end], "tag": predictor.labels[tag], "score": score,
                          "start": start, "end": end})  # fmt: skip
        records.append({"words": words})
    return records
