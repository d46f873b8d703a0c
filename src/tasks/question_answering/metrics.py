"""SQuAD scoring: the official answer normalisation, exact match and token F1 (v1.1 and v2.0 scripts), and the
SQuAD v2 no-answer threshold chosen on validation (the official `best_f1_thresh`).

Scores are fractions in 0..1 (the official scripts print them x100). Each question scores the maximum over its
gold answers. In v2, gold answers that normalise to nothing are dropped and a question left without any is
unanswerable (its only gold is ""); an empty prediction then scores 1, any other 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import torch

PUNCTUATION = frozenset(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, articles a/an/the removed, whitespace collapsed (in the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str, version_2: bool = False) -> float:
    """Token F1 of the normalised bags of words. v1.1 scores 0 whenever nothing is shared (two empty strings
    included); v2.0 scores an empty side 1 when both are empty (a correct no-answer), else 0."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if version_2 and (not pred or not gold):
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def gold_answers(texts: Sequence[str], version_2: bool) -> list[str]:
    """The golds a prediction is scored against: v2 drops golds that normalise to nothing ([""] if none is left)."""
    if not version_2:
        return list(texts) or [""]
    return [t for t in texts if normalize_answer(t)] or [""]


def has_answer(texts: Sequence[str]) -> bool:
    """Whether a question is answerable in v2's sense: one of its golds normalises to some text."""
    return any(normalize_answer(t) for t in texts)


def score(prediction: str, texts: Sequence[str], version_2: bool) -> tuple[float, float]:
    """(exact match, F1) of one prediction: the maximum over the question's gold answers."""
    golds = gold_answers(texts, version_2)
    return max(exact_match(prediction, g) for g in golds), max(f1(prediction, g, version_2) for g in golds)


def best_threshold(diff: torch.Tensor, f1s: torch.Tensor, has: torch.Tensor) -> float:
    """The no-answer threshold that maximises F1 (official squad_v2 `find_best_thresh`): a question is answered
    when `diff` (null score - best span score) <= threshold, else predicted unanswerable.

    Starting from "no answer everywhere" (every unanswerable question right), answering question q changes the
    total by its span's F1 (answerable) or by F1 - 1 (unanswerable: usually -1). The official script walks the
    questions by increasing diff and keeps the first best prefix; here a cut never falls between equal diffs,
    so the threshold reproduces the score it was chosen for. When answering never helps, the threshold lies
    below every diff (1 under the smallest)."""
    finite = torch.isfinite(diff)  # an infinite diff: no valid span in any window, always "no answer"
    d = diff[finite].double()
    gain = torch.where(has.bool(), f1s.double(), f1s.double() - 1.0)[finite]
    if d.numel() == 0:
        return 0.0
    order = torch.argsort(d, stable=True)
    d, total = d[order], torch.cumsum(gain[order], 0)
    last = torch.ones_like(d, dtype=torch.bool)
    last[:-1] = d[1:] != d[:-1]  # the last question of each run of equal diffs: where a cut may fall
    cuts, values = total[last], d[last]
    best = int(torch.argmax(cuts))  # the first maximum: the smallest threshold reaching it
    return float(values[best]) if cuts[best] > 0 else float(d[0]) - 1.0


def squad_metrics(
    em: torch.Tensor, f1s: torch.Tensor, diff: torch.Tensor, has: torch.Tensor, threshold: float | None
) -> dict[str, float]:
    """Exact match and F1 over questions; with a threshold (v2), a question whose diff exceeds it is predicted
    unanswerable (EM = F1 = 1 if it is, else 0) and the scores of answerable/unanswerable questions come too."""
    if threshold is None:
        return {"exact_match": float(em.double().mean()), "f1": float(f1s.double().mean())}
    has = has.bool()
    null = diff > threshold
    em_final = torch.where(null, (~has).double(), em.double())
    f1_final = torch.where(null, (~has).double(), f1s.double())
    out = {"exact_match": float(em_final.mean()), "f1": float(f1_final.mean()), "threshold": float(threshold)}
    if has.any():
        out["has_ans_f1"] = float(f1_final[has].mean())
    if (~has).any():
        out["no_ans_f1"] = float(f1_final[~has].mean())
    return out
