"""Answer spans from start/end logits, as utils_qa.py's `postprocess_qa_predictions` picks them, shared by
evaluation (module.py) and prediction (predict.py) so both answer alike.

For every window of a question: the `n_best` highest start and end logits (over the window's real tokens),
every pair of them whose tokens are both in the context, start <= end, at most `max_answer_length` tokens;
a pair scores start logit + end logit. The question's answer is the best pair over all its windows (the
first in window order on a tie). Its no-answer ("null") score is the smallest CLS score (start + end logit
at position 0) over the windows, and `diff` = null - best span score (SQuAD v2: no answer when diff > the
threshold). Context tokens whose character span is empty are not answer boundaries (a lone space of a
byte-level tokenizer): their text would be the empty string.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NONE = float("-inf")


@dataclass(frozen=True)
class Answer:
    """A question's best span over its windows (start = end = -1 when no window has a valid one)."""

    start: int  # character offsets in the context
    end: int
    score: float  # start + end logit of the span (-inf: none)
    null: float  # smallest CLS score (start + end logit) over the windows
    window: int  # which of the question's windows holds the span (-1: none)
    start_token: int  # token positions inside that window
    end_token: int

    @property
    def diff(self) -> float:
        """null score - best span score: the larger, the likelier the question has no answer (inf: no span)."""
        return self.null - self.score

    @property
    def found(self) -> bool:
        return self.start >= 0


def context_mask(offset_start: torch.Tensor, offset_end: torch.Tensor) -> torch.Tensor:
    """Tokens that may begin or end an answer: context tokens (offsets >= 0) covering at least one character."""
    return (offset_start >= 0) & (offset_end > offset_start)


def window_best(
    start: torch.Tensor, end: torch.Tensor, context: torch.Tensor, n_best: int, max_answer_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The best valid (start, end) pair of each window among its n_best x n_best candidates.

    start, end: (W, T) logits, -inf at padding; context: (W, T) bool. Returns score (W,) (-inf where no pair
    is valid), start token (W,) and end token (W,).
    """
    k = min(n_best, start.shape[-1])
    s_logit, s_idx = start.topk(k, dim=-1)  # (W, k), highest first
    e_logit, e_idx = end.topk(k, dim=-1)
    length = e_idx[:, None, :] - s_idx[:, :, None] + 1  # (W, k, k): [start rank, end rank]
    valid = context.gather(1, s_idx)[:, :, None] & context.gather(1, e_idx)[:, None, :]
    valid &= (length >= 1) & (length <= max_answer_length)
    pairs = (s_logit[:, :, None] + e_logit[:, None, :]).masked_fill(~valid, NONE).flatten(1)  # (W, k*k)
    best = pairs.argmax(-1)  # the first maximum: start rank, then end rank, as utils_qa.py's stable sort
    score = pairs.gather(1, best[:, None]).squeeze(1)
    return score, s_idx.gather(1, (best // k)[:, None]).squeeze(1), e_idx.gather(1, (best % k)[:, None]).squeeze(1)


def answers(
    groups: list[int],
    start: torch.Tensor,
    end: torch.Tensor,
    offset_start: torch.Tensor,
    offset_end: torch.Tensor,
    n_best: int,
    max_answer_length: int,
) -> dict[int, Answer]:
    """The answer of every question of a batch of windows, in order of first appearance.

    groups: the question of each window (its windows in order: the evaluation sampler keeps them together in
    dataset order); start, end: (B, T) logits, -inf at padding; offset_start, offset_end: (B, T) character
    offsets of context tokens, -1 elsewhere. The search is vectorised over the batch; only the reduction over
    a question's windows runs in Python.
    """
    context = context_mask(offset_start, offset_end)
    score, s_tok, e_tok = window_best(start, end, context, n_best, max_answer_length)
    null = start[:, 0] + end[:, 0]  # (B,) CLS score of each window
    c_start = offset_start.gather(1, s_tok[:, None]).squeeze(1)
    c_end = offset_end.gather(1, e_tok[:, None]).squeeze(1)
    scores, nulls, starts, ends, s_list, e_list = (t.tolist() for t in (score, null, c_start, c_end, s_tok, e_tok))
    members: dict[int, list[int]] = {}
    for row, question in enumerate(groups):
        members.setdefault(question, []).append(row)
    out = {}
    for question, rows in members.items():
        best = max(range(len(rows)), key=lambda k: scores[rows[k]])  # the first window holding the best score
        r, smallest_null = rows[best], min(nulls[i] for i in rows)
        if scores[r] == NONE:
            out[question] = Answer(-1, -1, NONE, smallest_null, -1, -1, -1)
        else:
            out[question] = Answer(starts[r], ends[r], scores[r], smallest_null, best, s_list[r], e_list[r])
    return out


def span_probability(start: torch.Tensor, end: torch.Tensor, context: torch.Tensor, s: int, e: int) -> float:
    """The probability the question-answering pipeline reports for tokens (s, e) of one window: softmax of the
    start and of the end logits over the window's context tokens and CLS (position 0), multiplied.

    start, end: (T,) logits of the window; context: (T,) bool, every context token."""
    allowed = context.clone()
    allowed[0] = True
    p_start = start.float().masked_fill(~allowed, NONE).softmax(-1)
    p_end = end.float().masked_fill(~allowed, NONE).softmax(-1)
    return float(p_start[s] * p_end[e])
