"""Entity-level precision/recall/F1 for BIO tags, as a torchmetrics Metric.

Chunking follows conlleval, as seqeval's default mode does: an entity starts at B-X, or at I-X after O
or after a tag of another type ("I- without B-"), and ends before O, B-, or a tag of another type.
An entity counts as found only if its type and both boundaries match. The state is three count
vectors (true positives, predicted, gold per type) summed across DDP processes: exact, and cheap to sync.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric


def entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """(type, first word, last word) of every entity in one sentence's tags."""
    found = set()
    start, current = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = (tag[0], tag[2:]) if tag != "O" else ("O", None)
        ends = current is not None and (prefix in ("O", "B") or kind != current)
        if ends:
            found.add((current, start, i - 1))
            current = None
        if prefix == "B" or (prefix == "I" and current is None):
            start, current = i, kind
    return found


class EntityF1(Metric):
    """Micro precision/recall/F1 over entities, plus the same per entity type.

    update(preds, target): lists of tag-id sequences (one per sentence, any length).
    compute(): {"precision", "recall", "f1", "<type>/precision", "<type>/recall", "<type>/f1", "<type>/support"}.
    """

    full_state_update = False

    def __init__(self, label_names: Sequence[str]) -> None:
        super().__init__()
        self.label_names = list(label_names)
        self.types = sorted({n[2:] for n in self.label_names if n != "O"})
        for name in ("correct", "predicted", "gold"):
            self.add_state(name, torch.zeros(len(self.types), dtype=torch.long), dist_reduce_fx="sum")

    def _count(self, found: set[tuple[str, int, int]]) -> torch.Tensor:
        counts = torch.zeros(len(self.types), dtype=torch.long)
        for kind, _, _ in found:
            counts[self.types.index(kind)] += 1
        return counts

    def update(self, preds: Sequence[Sequence[int]], target: Sequence[Sequence[int]]) -> None:
        for pred, gold in zip(preds, target, strict=True):
            if len(pred) != len(gold):
                raise ValueError(f"prediction has {len(pred)} tags, gold has {len(gold)}")
            p = entities([self.label_names[i] for i in pred])
            g = entities([self.label_names[i] for i in gold])
            self.correct += self._count(p & g).to(self.correct.device)
            self.predicted += self._count(p).to(self.correct.device)
            self.gold += self._count(g).to(self.correct.device)

    @staticmethod
    def _prf(correct: torch.Tensor, predicted: torch.Tensor, gold: torch.Tensor) -> tuple[float, float, float]:
        precision = (correct / predicted).item() if predicted > 0 else 0.0
        recall = (correct / gold).item() if gold > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return precision, recall, f1

    def compute(self) -> dict[str, float]:
        p, r, f = self._prf(self.correct.sum(), self.predicted.sum(), self.gold.sum())
        out = {"precision": p, "recall": r, "f1": f}
        for i, kind in enumerate(self.types):
            p, r, f = self._prf(self.correct[i], self.predicted[i], self.gold[i])
            out |= {
                f"{kind}/precision": p,
                f"{kind}/recall": r,
                f"{kind}/f1": f,
                f"{kind}/support": float(self.gold[i]),
            }
        return out
