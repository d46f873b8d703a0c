"""Entity-level metric: identical to seqeval (micro and per type) on hand-made and random sequences."""

from __future__ import annotations

import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from src.tasks.ner.entities import EntityF1, entities

LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]

CASES = {
    "entity at sentence end": (["O", "B-PER", "I-PER"], ["O", "B-PER", "I-PER"]),
    "I- without B-": (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
    "I- after other type": (["B-PER", "I-LOC", "O"], ["B-PER", "B-LOC", "O"]),
    "adjacent same type": (["B-PER", "B-PER", "I-PER"], ["B-PER", "I-PER", "I-PER"]),
    "adjacent both sides": (["B-ORG", "B-ORG"], ["B-ORG", "B-ORG"]),
    "boundary error": (["B-LOC", "I-LOC", "I-LOC"], ["B-LOC", "I-LOC", "O"]),
    "type error": (["B-MISC", "O"], ["B-ORG", "O"]),
    "no entities": (["O", "O"], ["O", "O"]),
    "single word": (["B-MISC"], ["I-MISC"]),
}


def ours(pred: list[list[str]], gold: list[list[str]]) -> dict[str, float]:
    metric = EntityF1(LABELS)
    metric.update([[LABELS.index(t) for t in s] for s in pred], [[LABELS.index(t) for t in s] for s in gold])
    return metric.compute()


def assert_same_as_seqeval(pred: list[list[str]], gold: list[list[str]]) -> None:
    got = ours(pred, gold)
    assert got["precision"] == pytest.approx(precision_score(gold, pred, zero_division=0))
    assert got["recall"] == pytest.approx(recall_score(gold, pred, zero_division=0))
    assert got["f1"] == pytest.approx(f1_score(gold, pred, zero_division=0))
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind in ("LOC", "MISC", "ORG", "PER"):
        expected = report.get(kind, {"precision": 0, "recall": 0, "f1-score": 0, "support": 0})
        assert got[f"{kind}/support"] == expected["support"], kind
        if expected["support"] or got[f"{kind}/precision"]:
            assert got[f"{kind}/precision"] == pytest.approx(expected["precision"]), kind
            assert got[f"{kind}/recall"] == pytest.approx(expected["recall"]), kind
            assert got[f"{kind}/f1"] == pytest.approx(expected["f1-score"]), kind


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_edge_cases_match_seqeval(case: str) -> None:
    pred, gold = CASES[case]
    assert_same_as_seqeval([pred], [gold])


def test_all_cases_together_match_seqeval() -> None:
    assert_same_as_seqeval([p for p, _ in CASES.values()], [g for _, g in CASES.values()])


def test_random_sequences_match_seqeval() -> None:
    rng = random.Random(0)
    gold = [[rng.choice(LABELS) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else rng.choice(LABELS) for t in s] for s in gold]
    assert_same_as_seqeval(pred, gold)


def test_entities_spans() -> None:
    assert entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == {("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4)}


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="prediction has 1 tags, gold has 2"):
        EntityF1(LABELS).update([[0]], [[0, 0]])
