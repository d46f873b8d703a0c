"""Answers of an extractive QA model: {"answer", "start", "end", "score"} per question + context.

Windows are cut as in training: the question (leading blanks dropped) and the context as one pair, only the
context truncated, windows of the training `max_length` sharing the training `doc_stride` tokens, both read
from config.json's `finetune` record (`max_length=` on the command line replaces the first; predict.py's
`stride` key, whose default serves text classification and NER, is not read: the model's threshold and
spans were tuned on windows with its own stride). The answer is chosen as in evaluation (spans.py: the best
span over all windows, utils_qa.py's n-best search); a SQuAD v2 model answers {"answer": "", "no_answer":
true} when the null score beats it by more than the threshold chosen on validation. `score` is what the
transformers question-answering pipeline reported: the softmax probabilities of the start and of the end
token over the window's context tokens and CLS, multiplied (for no answer: CLS's, the smallest over windows).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from src.inference.inputs import Field
from src.inference.predictor import Encoded, Outputs
from src.models.io import ModelIO
from src.tasks.question_answering.config import QuestionAnsweringData
from src.tasks.question_answering.spans import NONE, Answer, answers, span_probability

if TYPE_CHECKING:
    from src.inference.predictor import Predictor

# a start and an end logit per token; question + context pairs: BERT-style segment ids are part of the input
MODEL_IO = ModelIO(
    outputs={"start_logits": ("batch", "sequence"), "end_logits": ("batch", "sequence")}, token_types=True
)
FIELDS = [
    Field("question", help="the question to answer"),
    Field("context", help="the text holding the answer (read in windows when longer than max_length)"),
]
# a model exported by another tool records no windows: the data schema's defaults (run_qa.py's) stand in
DEFAULTS = {f.name: f.default for f in dataclasses.fields(QuestionAnsweringData)
            if f.name in ("max_length", "doc_stride", "max_answer_length", "n_best")}  # fmt: skip


@dataclass
class Windows:
    """What decode needs besides the outputs: each window's context offsets (-1 outside the context) and the
    error of rows that could not be read."""

    offset_start: list[list[int]]
    offset_end: list[list[int]]
    errors: dict[int, str]


def setting(predictor: Predictor, key: str) -> int:
    return int(predictor.info.get(key, DEFAULTS[key]))


def window_length(predictor: Predictor) -> int:
    """`max_length=` when given, else the training max_length (capped by what the model takes)."""
    if predictor.settings.max_length is not None:
        return predictor.max_length
    return min(setting(predictor, "max_length"), predictor.max_length)


def too_long(predictor: Predictor, questions: list[str], length: int, stride: int) -> dict[int, str]:
    """Rows whose question leaves a window no more context tokens than doc_stride: an error record each."""
    tokenizer = predictor.tokenizer
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    sizes = [len(x) for x in tokenizer(questions, add_special_tokens=False, verbose=False)["input_ids"]]
    return {
        i: f"question of {n} tokens leaves no room for context in windows of max_length={length} sharing "
        f"doc_stride={stride} tokens. Fix: max_length>={n + specials + stride + 1}, or a shorter question"
        for i, n in enumerate(sizes)
        if length - n - specials <= stride
    }


def encode(predictor: Predictor, rows: list[dict[str, Any]]) -> Encoded:
    """Every row's windows; the state holds their context offsets and the rows refused (question too long)."""
    length, stride = window_length(predictor), setting(predictor, "doc_stride")
    questions = [r["question"].lstrip() for r in rows]
    errors = too_long(predictor, questions, length, stride)
    keep = [i for i in range(len(rows)) if i not in errors]
    state, sequences, owners = Windows([], [], errors), [], []
    if not keep:
        return Encoded(sequences, owners, state)
    tokenizer = predictor.tokenizer
    types = "token_type_ids" in tokenizer.model_input_names
    enc = tokenizer([questions[i] for i in keep], [rows[i]["context"] for i in keep], truncation="only_second",
                    max_length=length, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                    return_token_type_ids=types, verbose=False)  # fmt: skip
    for w, k in enumerate(enc["overflow_to_sample_mapping"]):
        sequence = {"input_ids": enc["input_ids"][w]}
        sequences.append({**sequence, "token_type_ids": enc["token_type_ids"][w]} if types else sequence)
        owners.append(keep[k])
        context = [s == 1 for s in enc.sequence_ids(w)]
        state.offset_start.append([o[0] if c else -1 for o, c in zip(enc["offset_mapping"][w], context, strict=True)])
        state.offset_end.append([o[1] if c else -1 for o, c in zip(enc["offset_mapping"][w], context, strict=True)])
    return Encoded(sequences, owners, state)


def padded(values: list[torch.Tensor] | list[list[int]], fill: float, dtype: torch.dtype) -> torch.Tensor:
    """Windows of different lengths as one (W, T) tensor, `fill` after each window's end."""
    rows = [torch.as_tensor(v, dtype=dtype) for v in values]
    out = torch.full((len(rows), max(len(r) for r in rows)), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def decode(predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list[dict]:
    """The best span of each row over its windows (or no answer), with the pipeline's probability."""
    state: Windows = encoded.state
    records: list[dict] = [{"error": state.errors[i]} if i in state.errors else {} for i in range(len(rows))]
    if not outputs:
        return records
    start = padded([o["start_logits"] for o in outputs], NONE, torch.float)  # (W, T), -inf after a window's end
    end = padded([o["end_logits"] for o in outputs], NONE, torch.float)
    offset_start = padded(state.offset_start, -1, torch.long)  # (W, T), -1 outside the context
    offset_end = padded(state.offset_end, -1, torch.long)
    found = answers(encoded.owners, start, end, offset_start, offset_end, setting(predictor, "n_best"),
                    setting(predictor, "max_answer_length"))  # fmt: skip
    windows: dict[int, list[int]] = {}
    for w, row in enumerate(encoded.owners):
        windows.setdefault(row, []).append(w)
    for row, answer in found.items():
        records[row] = record(predictor, rows[row], answer, [(start[w], end[w], offset_start[w]) for w in windows[row]])
    return records


def record(predictor: Predictor, row: dict[str, Any], answer: Answer, windows: list[tuple]) -> dict:
    """One row's record: the span (text, character offsets, probability), or no answer (a v2 model whose
    threshold the null score passes, or any model when no window holds a valid span)."""
    info = predictor.info
    null = answer.diff > float(info.get("threshold", 0.0)) if info.get("version_2") else False
    if null or not answer.found:
        score = min(span_probability(s, e, o >= 0, 0, 0) for s, e, o in windows)
        return {"answer": "", "no_answer": True, "score": score}
    s, e, o = windows[answer.window]
    probability = span_probability(s, e, o >= 0, answer.start_token, answer.end_token)
    return {"answer": row["context"][answer.start : answer.end], "start": answer.start, "end": answer.end,
            "score": probability}  # fmt: skip
