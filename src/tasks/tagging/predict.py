"""Word tagging predictions: every word of the text with its tag, probability and character offsets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src.inference.words import tag_words, word_text

if TYPE_CHECKING:
    from tqdm import tqdm

    from src.inference.predictor import Predictor


def predict(predictor: Predictor, rows: list[dict[str, Any]], bar: tqdm | None) -> list[dict]:
    texts = [r["text"] for r in rows]
    records = []
    for text, (layout, probs) in zip(texts, tag_words(predictor, texts, bar), strict=True):
        scores, tags = probs.max(-1)
        words = []
        for span, tag, score in zip(layout.spans, tags.tolist(), scores.tolist(), strict=True):
            start, end = word_text(text, span)
            words.append({"word": text[start:end], "tag": predictor.labels[tag], "score": score,
                          "start": start, "end": end})  # fmt: skip
        records.append({"words": words})
    return records
