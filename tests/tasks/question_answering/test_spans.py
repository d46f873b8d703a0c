"""The span search over a question's windows: hand-made logits, and random ones against a plain transcription of
utils_qa.py's loops."""

from __future__ import annotations

import math
import random

import pytest
import torch

from src.tasks.question_answering.spans import NONE, answers, span_probability

# two windows of one context "ab cd ef gh": tokens [CLS] q [SEP] ctx ctx [SEP]
OFFSETS_START = torch.tensor([[-1, -1, -1, 0, 3, -1], [-1, -1, -1, 3, 6, -1]])  # window 0: "ab cd", 1: "cd ef"
OFFSETS_END = torch.tensor([[-1, -1, -1, 2, 5, -1], [-1, -1, -1, 5, 8, -1]])


def logits(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float)


def test_best_span_is_in_the_second_window() -> None:
    start = logits([1.0, 0, 0, 2.0, 0.5, 0], [0.5, 0, 0, 0.1, 3.0, 0])
    end = logits([1.0, 0, 0, 0.5, 2.0, 0], [0.5, 0, 0, 0.1, 3.5, 0])
    # window 0: best (3, 4) = 2 + 2 = 4; window 1: (4, 4) = 3 + 3.5 = 6.5 -> "ef" (characters 6..8)
    (answer,) = answers([7, 7], start, end, OFFSETS_START, OFFSETS_END, n_best=20, max_answer_length=30).values()
    assert (answer.window, answer.start, answer.end, answer.score) == (1, 6, 8, 6.5)
    assert answer.null == pytest.approx(1.0)  # min(1 + 1, 0.5 + 0.5)
    assert answer.diff == pytest.approx(1.0 - 6.5)


def test_start_never_after_end_and_never_outside_the_context() -> None:
    # the highest logits sit on CLS, the question and [SEP]; the best end comes before the best start
    start = logits([9.0, 8.0, 7.0, 0.0, 2.0, 9.0])
    end = logits([9.0, 8.0, 7.0, 3.0, 0.5, 9.0])
    found = answers([0], start, end, OFFSETS_START[:1], OFFSETS_END[:1], n_best=20, max_answer_length=30)[0]
    # pairs in the context with start <= end: (3, 3) = 3, (3, 4) = 0.5, (4, 4) = 2.5 -> (3, 3), "ab"
    assert (found.start_token, found.end_token, found.start, found.end) == (3, 3, 0, 2)


def test_max_answer_length_is_respected() -> None:
    offsets = torch.arange(8)[None].repeat(2, 1)  # one window, eight one-character context tokens (and CLS)
    offsets[:, 0] = -1
    start = logits([0.0, 5.0, 0, 0, 0, 0, 1.0, 0])
    end = logits([0.0, 0, 0, 0, 0, 0, 0, 5.0])
    ok = answers([0], start, end, offsets[:1], offsets[1:] + 1, n_best=20, max_answer_length=7)[0]
    assert (ok.start_token, ok.end_token) == (1, 7)  # 7 tokens: allowed, score 10
    short = answers([0], start, end, offsets[:1], offsets[1:] + 1, n_best=20, max_answer_length=6)[0]
    assert (short.start_token, short.end_token) == (6, 7)  # (1, 7) is 7 tokens long: next best is 1 + 5


def test_only_the_n_best_starts_and_ends_are_candidates() -> None:
    start = logits([0.0, 0, 0, 5.0, 1.0, 0])  # top start (3), then CLS/question/SEP at 0, then token 4
    end = logits([4.0, 0, 0, 0.0, 1.0, 0])
    with_all = answers([0], start, end, OFFSETS_START[:1], OFFSETS_END[:1], n_best=20, max_answer_length=30)[0]
    assert (with_all.start_token, with_all.end_token) == (3, 4)
    top_one = answers([0], start, end, OFFSETS_START[:1], OFFSETS_END[:1], n_best=1, max_answer_length=30)[0]
    assert not top_one.found and top_one.score == NONE  # (3, 0): end before start, the only candidate
    assert math.isinf(top_one.diff)


def test_padding_is_never_a_candidate() -> None:
    start = logits([0.0, 0, 0, 1.0, NONE, NONE])
    end = logits([0.0, 0, 0, 1.0, NONE, NONE])
    found = answers([0], start, end, OFFSETS_START[:1], OFFSETS_END[:1], n_best=20, max_answer_length=30)[0]
    assert (found.start_token, found.end_token) == (3, 3)


def test_span_probability_is_the_pipelines() -> None:
    start, end = torch.tensor([0.0, 7.0, 1.0, 2.0]), torch.tensor([1.0, 7.0, 2.0, 0.0])
    context = torch.tensor([False, False, True, True])  # token 1 is the question: out of the softmax
    # softmax over CLS and the context: start e^2 / (1 + e + e^2) at 3, end e^2 / (e + e^2 + 1) at 2
    expected = (math.e**2 / (1 + math.e + math.e**2)) ** 2
    assert span_probability(start, end, context, 3, 2) == pytest.approx(expected)


def reference(start: list, end: list, offsets: list, n_best: int, max_len: int) -> tuple:
    """utils_qa.py's loops for one question: prelim predictions over every window, sorted by score."""
    prelim, null = [], None
    for w, (s_logits, e_logits) in enumerate(zip(start, end, strict=True)):
        null = min(null, s_logits[0] + e_logits[0]) if null is not None else s_logits[0] + e_logits[0]
        starts = sorted(range(len(s_logits)), key=lambda i: -s_logits[i])[:n_best]
        ends = sorted(range(len(e_logits)), key=lambda i: -e_logits[i])[:n_best]
        for s in starts:
            for e in ends:
                if offsets[w][s] is None or offsets[w][e] is None or e < s or e - s + 1 > max_len:
                    continue
                prelim.append((s_logits[s] + e_logits[e], offsets[w][s][0], offsets[w][e][1]))
    best = sorted(prelim, key=lambda p: -p[0])[0] if prelim else (NONE, -1, -1)
    return best, null


def test_random_logits_agree_with_utils_qa_loops() -> None:
    rng = random.Random(0)
    for _ in range(60):
        windows, length, n_best, max_len = rng.randint(1, 3), rng.randint(6, 14), rng.randint(1, 6), rng.randint(1, 5)
        first = rng.randint(2, 4)  # [CLS] and the question before the context
        offsets = [[(k, k + 1) if first <= k < length - 1 else None for k in range(length)] for _ in range(windows)]
        start = [[rng.gauss(0, 2) for _ in range(length)] for _ in range(windows)]
        end = [[rng.gauss(0, 2) for _ in range(length)] for _ in range(windows)]
        (best_score, c_start, c_end), null = reference(start, end, offsets, n_best, max_len)
        o_start = torch.tensor([[o[0] if o else -1 for o in row] for row in offsets])
        o_end = torch.tensor([[o[1] if o else -1 for o in row] for row in offsets])
        got = answers([3] * windows, torch.tensor(start), torch.tensor(end), o_start, o_end, n_best, max_len)[3]
        assert (got.start, got.end) == (c_start, c_end)
        assert got.score == pytest.approx(best_score, abs=1e-5) and got.null == pytest.approx(null, abs=1e-5)
