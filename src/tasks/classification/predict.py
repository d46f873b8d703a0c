"""Predictions of a sequence classification model: labels with probabilities, label sets, or scores.

Long single texts are truncated as in training (head, tail, head+tail) or, with `long_text=window`,
read in overlapping windows whose outputs are averaged. Pairs use the tokenizer's pair template and
`longest_first` truncation, exactly as training and `transformers.pipeline` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from src.data.sequences import truncate, windows
from src.inference.inputs import Field
from src.inference.predictor import Encoded, Outputs
from src.tasks.classification.data import MULTI, REGRESSION, SINGLE
from src.utils.errors import ConfigError

if TYPE_CHECKING:
    from src.inference.predictor import Predictor, Settings


def problem_type(predictor: Predictor) -> str:
    """From the config; models exported elsewhere without one: one output is a score, more are classes."""
    return predictor.config.problem_type or (REGRESSION if predictor.config.num_labels == 1 else SINGLE)


def check_settings(settings: Settings, budget: int, info: dict) -> None:
    """What depends on the model: windows over one text (not pairs), windows of more than twice the stride."""
    if settings.long_text == "window":
        if info.get("text_pair"):
            raise ConfigError("long_text=window reads one long text; this model reads pairs. Fix: long_text=truncate.")
        if not 0 <= settings.stride < budget // 2:
            raise ConfigError(f"stride={settings.stride} must be >= 0 and < {budget // 2} (half of max_length's text).")


def fields(info: dict) -> list[Field]:
    """One text, or both texts of a pair for a model trained on pairs (the second is then required)."""
    text = Field("text", help="the text to classify (a pair's first text)")
    if info.get("text_pair"):
        return [text, Field("text_pair", help="the second text: this model was trained on sentence pairs")]
    return [text]


def sequences_of(predictor: Predictor, rows: list[dict[str, Any]]) -> tuple[list[dict], list[int], list[bool]]:
    """Model inputs of every row (one, or one per window), the row each belongs to, and whether a row was cut."""
    tokenizer, s = predictor.tokenizer, predictor.settings
    if "text_pair" in rows[0]:
        enc = tokenizer([r["text"] for r in rows], [r["text_pair"] for r in rows], truncation="longest_first",
                        max_length=predictor.max_length, verbose=False)  # fmt: skip
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc and k in tokenizer.model_input_names]
        full = [len(x) for x in tokenizer([r["text"] for r in rows], [r["text_pair"] for r in rows])["input_ids"]]
        sequences = [{k: enc[k][i] for k in keys} for i in range(len(rows))]
        return sequences, list(range(len(rows))), [f > predictor.max_length for f in full]
    token_ids = tokenizer([r["text"] for r in rows], add_special_tokens=False, verbose=False)["input_ids"]  # we cut
    sequences, owners = [], []
    for t, ids in enumerate(token_ids):
        if s.long_text == "truncate" or len(ids) <= predictor.budget:
            parts = [truncate(ids, predictor.budget, s.truncation, s.head_tokens)]
        else:
            parts = [ids[w : w + predictor.budget] for w in windows(len(ids), predictor.budget, s.stride)]
        sequences += [{"input_ids": predictor.prefix + p + predictor.suffix} for p in parts]
        owners += [t] * len(parts)
    return sequences, owners, [len(ids) > predictor.budget for ids in token_ids]


def encode(predictor: Predictor, rows: list[dict[str, Any]]) -> Encoded:
    sequences, owners, truncated = sequences_of(predictor, rows)
    return Encoded(sequences, owners, truncated)


def decode(predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list[dict]:
    """Each row's outputs (the mean over its windows with long_text=window) -> its record."""
    kind = problem_type(predictor)
    per_row: list[list[torch.Tensor]] = [[] for _ in rows]
    for t, out in zip(encoded.owners, outputs, strict=True):
        per_row[t].append(activate(out["logits"], kind))
    return [
        record(predictor, kind, torch.stack(values).mean(0), len(values), cut)
        for values, cut in zip(per_row, encoded.state, strict=True)
    ]


def pipeline_records(pipe: Any, rows: list[dict[str, Any]]) -> list[dict]:
    """`pipeline("text-classification")` with every label's score: probabilities (softmax or sigmoid, as the
    model's problem_type says) or, for regression, the score."""
    records = []
    for row in rows:
        scores = {o["label"]: o["score"] for o in pipe(dict(row) if "text_pair" in row else row["text"], top_k=None)}
        records.append({"probs": scores} if pipe.model.config.problem_type != REGRESSION else
                       {"score": next(iter(scores.values()))})  # fmt: skip
    return records


def activate(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """What the pipeline reports: softmax (single label), sigmoid (multi-label), the raw score (regression)."""
    if kind == SINGLE:
        return logits.softmax(-1)
    return logits.sigmoid() if kind == MULTI else logits


def record(predictor: Predictor, kind: str, output: torch.Tensor, n_windows: int, truncated: bool) -> dict:
    labels = predictor.labels
    if kind == REGRESSION:
        out: dict[str, Any] = {"score": float(output[0])}
    else:
        probs = {name: float(p) for name, p in zip(labels, output.tolist(), strict=True)}
        if kind == SINGLE:
            best = int(output.argmax())
            out = {"label": labels[best], "score": float(output[best]), "probs": probs}
        else:
            cut = predictor.info.get("thresholds") or [0.5] * len(labels)
            chosen = sorted((i for i in range(len(labels)) if output[i] >= cut[i]), key=lambda i: -float(output[i]))
            out = {"labels": [{"label": labels[i], "score": float(output[i])} for i in chosen], "probs": probs}
    if predictor.settings.long_text == "window" and not predictor.info.get("text_pair"):
        out["windows"] = n_windows  # outputs are the mean over this many windows
    elif truncated:
        out["truncated"] = True  # only part of the text was read
    return out
