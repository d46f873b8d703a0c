"""Word-level predictions (NER, part-of-speech...): words, their character spans, and per-word probabilities.

Words are the tokenizer's pre-tokenization of the raw text (whitespace and punctuation); each word takes
the tag predicted at its first sub-token (as in training), read in the window where the word has the
most context, so a long text is tagged whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from src.data.sequences import windows
from src.inference.inputs import Field
from src.inference.predictor import Encoded, Outputs
from src.models.io import ModelIO
from src.tasks.words.data import owner_windows
from src.utils.errors import ConfigError

if TYPE_CHECKING:
    from src.inference.predictor import Predictor, Settings

MODEL_IO = ModelIO(outputs={"logits": ("batch", "sequence", "label")})  # one label vector per token
FIELDS = [Field("text", help="the text whose words are tagged (split into words as the tokenizer pre-tokenizes)")]


@dataclass
class WordLayout:
    """One text's words and windows: words are pre-tokenizer words, located by their first sub-token."""

    spans: list[tuple[int, int]]  # character span of each word
    first: list[int]  # position of each word's first sub-token (among the text's tokens)
    starts: list[int]  # first token of each window
    owners: list[int]  # window in which each word is predicted


def check_stride(settings: Settings, budget: int) -> None:
    if not 0 <= settings.stride < budget // 2:
        raise ConfigError(f"stride={settings.stride} must be >= 0 and < {budget // 2} (half of max_length's text).")


def word_layout(text: str, word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]) -> tuple[list, list]:
    """Character span and first sub-token position of every word of one tokenized text.

    Whitespace-only "words" (byte-level BPE makes one of a run of spaces) are not words: skipped.
    """
    spans: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    for position, (word, (start, end)) in enumerate(zip(word_ids, offsets, strict=True)):
        if word is None:
            continue
        if word not in spans:
            spans[word], first[word] = [start, end], position
        spans[word][1] = max(spans[word][1], end)
    order = [w for w in sorted(spans) if text[spans[w][0] : spans[w][1]].strip()]
    return [tuple(spans[w]) for w in order], [first[w] for w in order]


def word_text(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span without the leading space byte-level tokens may carry."""
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    return start, end


def encode_words(predictor: Predictor, rows: list[dict]) -> Encoded:
    """Every text's windows as sequences; the state is each text's word layout and its first window's index."""
    texts = [r["text"] for r in rows]
    encoding = predictor.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    layouts, sequences, owners, base = [], [], [], []
    for t, text in enumerate(texts):
        spans, first = word_layout(text, encoding.word_ids(t), encoding["offset_mapping"][t])
        ids = encoding["input_ids"][t]
        starts = windows(len(ids), predictor.budget, predictor.settings.stride)
        layout = WordLayout(spans, first, starts, owner_windows(first, starts, predictor.budget, len(ids)))
        layouts.append(layout)
        base.append(len(sequences))  # index of the text's first window
        sequences += [
            {"input_ids": predictor.prefix + ids[s : s + predictor.budget] + predictor.suffix} for s in starts
        ]
        owners += [t] * len(starts)
    return Encoded(sequences, owners, (layouts, base))


def tagged_words(
    predictor: Predictor, encoded: Encoded, outputs: list[Outputs]
) -> list[tuple[WordLayout, torch.Tensor]]:
    """Per text: its word layout and (words, labels) probabilities, each word read in its owner window."""
    layouts, base = encoded.state
    probs = [out["logits"].softmax(-1) for out in outputs]
    return [(layout, word_probs(predictor, layout, probs[b : b + len(layout.starts)]))
            for layout, b in zip(layouts, base, strict=True)]  # fmt: skip


def tag_words(predictor: Predictor, texts: list[str]) -> list[tuple[WordLayout, torch.Tensor]]:
    """`encode_words`, the model, `tagged_words`: each text's layout and per-word probabilities."""
    encoded = encode_words(predictor, [{"text": t} for t in texts])
    return tagged_words(predictor, encoded, predictor.run(encoded.sequences, encoded.owners))


def word_probs(predictor: Predictor, layout: WordLayout, window_probs: list[torch.Tensor]) -> torch.Tensor:
    """(words, labels) probabilities, each word's read at its first sub-token in its owner window."""
    rows = [
        window_probs[k][len(predictor.prefix) + g - layout.starts[k]]
        for g, k in zip(layout.first, layout.owners, strict=True)
    ]
    return torch.stack(rows) if rows else torch.empty(0, len(predictor.labels))
