"""Predictions of a multiple-choice model: every choice of a question ranked by its probability.

A question's choices are encoded exactly as in training (src/tasks/multiple_choice/data.py `encode_choices`:
(question, choice) pairs, or (context, question + " " + choice), the first text cut first) and run as one
(choice, sequence) example; the softmax over its own choices gives the probabilities. Choices are ranked by
probability; choices within TIED of each other count as tied and keep their input order: a trained model often gives
its losing choices probabilities 1e-8 apart, and the float noise of another backend (ONNX, ~1e-7) or batch (padding)
must not reorder them.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from src.inference.inputs import Field
from src.inference.predictor import Encoded, Outputs
from src.tasks.multiple_choice.data import encode_choices
from src.utils.errors import ConfigError

if TYPE_CHECKING:
    from src.inference.predictor import Predictor, Settings

QUESTION = Field("question", help="the question (or the start of the sentence the choices complete)")
CHOICES = Field("choices", many=True, help="the candidate answers, at least 2")
TIED = 1e-5  # probabilities closer than this are equal for the ranking (float noise is ~1e-7)
CONTEXT = Field("context", help="the passage or dialogue the question is about: this model was trained with one")


def fields(info: dict) -> list[Field]:
    """question and choices, and the context a model trained with contexts needs."""
    return [QUESTION, CHOICES, *([CONTEXT] if info.get("context") else [])]


def check_settings(settings: Settings, budget: int, info: dict) -> None:
    """Long inputs are read as in training (the context cut from its end): windows and other cuts do not apply."""
    if settings.long_text != "truncate":
        raise ConfigError(
            f"long_text={settings.long_text!r}: a multiple-choice model reads each choice with its question in one "
            "sequence (the context is cut when too long). Fix: long_text=truncate."
        )
    if settings.truncation != "head":
        raise ConfigError(
            f"truncation={settings.truncation!r}: a multiple-choice model keeps the start of a long context, as in "
            "training. Fix: truncation=head."
        )


def encode(predictor: Predictor, rows: list[dict[str, Any]]) -> Encoded:
    """One sequence per row holding all its choices (nested input ids: (choices, tokens)); a row with fewer than
    2 choices gets no sequence and an error record."""
    usable = [i for i, row in enumerate(rows) if len(row["choices"]) >= 2]
    picked = [rows[i] for i in usable]
    contexts = [row["context"] for row in picked] if predictor.info.get("context") else None
    enc = encode_choices(predictor.tokenizer, [r["question"] for r in picked], [r["choices"] for r in picked],
                         contexts, predictor.max_length)  # fmt: skip
    sequences = [
        {"input_ids": ids, **({"token_type_ids": enc.token_type_ids[k]} if enc.token_type_ids else {})}
        for k, ids in enumerate(enc.input_ids)
    ]
    slot = dict(zip(usable, range(len(usable)), strict=True))  # row -> its sequence
    state = [(slot.get(i), slot.get(i) is not None and enc.truncated[slot[i]]) for i in range(len(rows))]
    return Encoded(sequences, usable, state)


def ranking(probs: list[float], tied: float = TIED) -> list[int]:
    """Choice indices by decreasing probability; a run of probabilities each within `tied` of the next is one tie,
    in input order."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    groups = [[order[0]]]
    for before, i in itertools.pairwise(order):
        if probs[before] - probs[i] < tied:
            groups[-1].append(i)
        else:
            groups.append([i])
    return [i for group in groups for i in sorted(group)]


def record(choices: list[str], logits: Any, truncated: bool) -> dict[str, Any]:
    """The top choice, its index and probability, and every choice ranked by probability (ties: input order)."""
    probs = logits.float().softmax(dim=-1).tolist()  # (C,)
    ranked = ranking(probs)
    best = ranked[0]
    out: dict[str, Any] = {
        "answer": choices[best],
        "index": best,
        "score": probs[best],
        "choices": [{"choice": choices[i], "index": i, "probability": probs[i]} for i in ranked],
    }
    if truncated:
        out["truncated"] = True  # the context (or question) was cut to max_length
    return out


def decode(predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list[dict]:
    records = []
    for row, (sequence, truncated) in zip(rows, encoded.state, strict=True):
        if sequence is None:
            n = len(row["choices"])
            records.append({"error": f"{n} choice{'s' if n != 1 else ''}: a multiple-choice question needs at least 2"})
        else:
            records.append(record(row["choices"], outputs[sequence]["logits"], truncated))
    return records
