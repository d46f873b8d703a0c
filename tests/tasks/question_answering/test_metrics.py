"""SQuAD scoring on hand-made cases (values worked out by hand in the comments) and the v2 threshold choice."""

from __future__ import annotations

import pytest
import torch

from src.tasks.question_answering.metrics import (
    best_threshold,
    gold_answers,
    has_answer,
    normalize_answer,
    score,
    squad_metrics,
)

CASES = [  # prediction, gold answers, version_2, EM, F1
    ("the Eiffel Tower", ["Eiffel Tower"], False, 1.0, 1.0),  # article and case ignored
    ("in 1889", ["1889"], False, 0.0, 2 / 3),  # P = 1/2, R = 1 -> 2 * 1/2 / (3/2)
    ("Denver Broncos!", ["Broncos", "denver broncos"], False, 1.0, 1.0),  # the best gold; punctuation dropped
    ("a big red dog", ["the red dog", "dog"], False, 0.0, 0.8),  # {big red dog} vs {red dog}: P 2/3, R 1
    ("Paris", ["London"], False, 0.0, 0.0),  # nothing shared
    ("  Saint-Denis ", ["SaintDenis"], False, 1.0, 1.0),  # a hyphen is removed, not made a space
    ("An apple a day", ["apple, day"], False, 1.0, 1.0),  # both normalise to "apple day"
    ("the the cat", ["cat cat"], False, 0.0, 2 / 3),  # {cat} vs {cat, cat}: 1 shared, P 1, R 1/2
    ("New York City", ["York"], False, 0.0, 0.5),  # P 1/3, R 1 -> 2 * 1/3 / (4/3)
    ("", [], True, 1.0, 1.0),  # v2: no answer predicted for an unanswerable question
    ("bob", [], True, 0.0, 0.0),  # v2: an answer to an unanswerable question
    ("", ["bob"], True, 0.0, 0.0),  # v2: no answer to an answerable question
    ("", ["the", "!"], True, 1.0, 1.0),  # v2: golds normalising to nothing make the question unanswerable
    ("!", [], True, 1.0, 1.0),  # v2: a span normalising to nothing counts as no answer
    ("", [""], False, 1.0, 0.0),  # v1.1's F1 is 0 when nothing is shared, even two empty strings (EM 1)
]


@pytest.mark.parametrize(("prediction", "golds", "version_2", "em", "f1"), CASES)
def test_hand_computed_scores(prediction: str, golds: list[str], version_2: bool, em: float, f1: float) -> None:
    got_em, got_f1 = score(prediction, golds, version_2)
    assert got_em == em
    assert got_f1 == pytest.approx(f1, abs=1e-12)


def test_normalisation_follows_the_official_order() -> None:
    assert normalize_answer("The  Quick,  brown fox.") == "quick brown fox"
    assert normalize_answer("theatre an anthem") == "theatre anthem"  # whole words only
    assert normalize_answer("a-the") == "athe"  # punctuation goes first, so "a-the" is one word


def test_v2_golds_and_answerability() -> None:
    assert gold_answers(["", "x"], version_2=True) == ["x"]
    assert gold_answers([], version_2=True) == [""]
    assert gold_answers(["x", "x"], version_2=False) == ["x", "x"]
    assert has_answer(["the"]) is False and has_answer(["a cat"]) is True


def test_threshold_maximises_f1_on_a_hand_made_set() -> None:
    # question:   q0    q1     q2    q3     q4
    diff = torch.tensor([-2.0, -1.0, 0.5, 1.0, 3.0])  # null score - best span score
    has = torch.tensor([True, False, True, False, True])
    f1 = torch.tensor([1.0, 0.0, 0.5, 0.0, 1.0])  # F1 of each best span
    # All null: q1, q3 right = 2. Answering by increasing diff adds +1, -1, +0.5, -1, +1: totals 3, 2, 2.5, 1.5,
    # 2.5. Best: answer q0 only (threshold -2), F1 3/5.
    threshold = best_threshold(diff, f1, has)
    assert threshold == -2.0
    metrics = squad_metrics(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0]), f1, diff, has, threshold)
    assert metrics["f1"] == pytest.approx(0.6)
    assert metrics["exact_match"] == pytest.approx(0.6)  # q0 (1), q1 and q3 right as no answer
    assert metrics["has_ans_f1"] == pytest.approx(1 / 3)  # q0 1, q2 and q4 predicted unanswerable
    assert metrics["no_ans_f1"] == pytest.approx(1.0)


def test_threshold_never_splits_equal_diffs_and_prefers_no_answer_on_a_tie() -> None:
    diff, has = torch.tensor([1.0, 1.0]), torch.tensor([True, False])
    # answering both gains +1 - 1 = 0, no better than abstaining: the threshold falls under the smallest diff
    threshold = best_threshold(diff, torch.tensor([1.0, 0.0]), has)
    assert threshold == 0.0
    assert squad_metrics(torch.zeros(2), torch.tensor([1.0, 0.0]), diff, has, threshold)["f1"] == 0.5


def test_threshold_ignores_questions_without_any_span() -> None:
    diff = torch.tensor([float("inf"), -1.0])
    threshold = best_threshold(diff, torch.tensor([0.0, 1.0]), torch.tensor([False, True]))
    assert threshold == -1.0  # answer q1; q0 (no span anywhere) stays unanswered: F1 2/2
    assert squad_metrics(torch.zeros(2), torch.tensor([0.0, 1.0]), diff, torch.tensor([False, True]), threshold)[
        "f1"
    ] == pytest.approx(1.0)


def test_v1_metrics_are_plain_means() -> None:
    metrics = squad_metrics(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.5]), torch.zeros(2), torch.ones(2), None)
    assert metrics == {"exact_match": 0.5, "f1": 0.75}
