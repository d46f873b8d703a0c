"""What every word-tagging module shares (NER, part-of-speech...): cross-entropy on each word's first
sub-token (or all of them, see data.label_all_subtokens), and evaluation per word on whole sentences: the
windows of a long sentence arrive in the same batch and are reassembled, each word taking its tag from
the window where it had most context. A task adds its sentence-level metrics (NER: entity F1)."""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy
from transformers import AutoModelForTokenClassification

from src.models.base import EncoderModule
from src.models.store import PredictionStore


def assemble_sentences(
    sentence: torch.Tensor, word_ids: torch.Tensor, preds: torch.Tensor, tags: torch.Tensor, outside: int
) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Whole-sentence (predicted, gold) tag ids, and the sentence ids, from a batch of windows.

    sentence: (B,) sentence of each window; word_ids: (B, T) word scored at each token, -1 elsewhere;
    preds: (B, T) predicted tag ids; tags: (B, W) gold tags of the sentence on its first window, -100 pad.
    A word with no sub-token (some tokenizers drop characters) is predicted `outside`: missed, not skipped.
    """
    gold: dict[int, list[int]] = {}
    predicted: dict[int, dict[int, int]] = defaultdict(dict)
    for s, words, pred, gold_row in zip(
        sentence.tolist(), word_ids.tolist(), preds.tolist(), tags.tolist(), strict=True
    ):
        if gold_row[0] != -100:
            gold[s] = [t for t in gold_row if t != -100]
        for word, tag in zip(words, pred, strict=True):
            if word >= 0:
                predicted[s][word] = tag
    order = sorted(gold)
    return [[predicted[s].get(w, outside) for w in range(len(gold[s]))] for s in order], [gold[s] for s in order], order


class WordTagModule(EncoderModule):
    """Base of word-tagging modules; logs `token_acc` (per word) and `loss`, keeps per-word predictions.

    Subclasses set `task_name` and may add sentence-level metrics (`make_sentence_metrics`,
    `update_sentence_metrics`, `sentence_scores`) and the label given to words without sub-tokens (`outside`).
    """

    auto_class = AutoModelForTokenClassification

    def outside(self, label_names: list[str]) -> int:
        """Label id predicted for a word that has no sub-token (so it counts as a miss)."""
        return 0

    def make_metrics(self, label_names: list[str]) -> None:
        n = len(label_names)
        self.missing_word_label = self.outside(label_names)
        self.val_acc, self.test_acc = (MulticlassAccuracy(n, average="micro") for _ in range(2))
        self.val_loss, self.test_loss = (MeanMetric() for _ in range(2))
        # per word, for reports: sentence id, predicted and gold tag ids
        self.val_store, self.test_store = (PredictionStore("sentence", "pred", "gold") for _ in range(2))
        self.make_sentence_metrics(label_names)

    def make_sentence_metrics(self, label_names: list[str]) -> None:
        """The task's metrics over whole sentences, one set per stage."""

    def update_sentence_metrics(self, stage: str, pred: list[list[int]], gold: list[list[int]]) -> None:
        """Update them with one batch of whole sentences (tag ids per word)."""

    def sentence_scores(self, stage: str) -> dict[str, torch.Tensor | float]:
        """Compute (synced across ranks) and reset them: {metric name: value}, logged as `<stage>/<name>`."""
        return {}

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch).logits.float()  # (B, T, C); fp32 loss under any precision
        loss = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), weight=self.loss_weights(logits))
        return loss, logits

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self.loss_and_logits(batch)
        preds = logits.argmax(dim=-1)  # (B, T)
        scored = batch["word_ids"] >= 0  # each word's first sub-token, in the window that scores it
        getattr(self, f"{stage}_acc").update(preds[scored], batch["labels"][scored])
        getattr(self, f"{stage}_loss").update(loss, weight=int((batch["labels"] != -100).sum()))
        pred, gold, ids = assemble_sentences(
            batch["sentence"], batch["word_ids"], preds, batch["tags"], self.missing_word_label
        )
        self.update_sentence_metrics(stage, pred, gold)
        flat = {
            "sentence": [s for s, tags in zip(ids, gold, strict=True) for _ in tags],
            "pred": [t for tags in pred for t in tags],
            "gold": [t for tags in gold for t in tags],
        }
        getattr(self, f"{stage}_store").update(**{k: torch.tensor(v, device=self.device) for k, v in flat.items()})

    def end_epoch(self, stage: str) -> None:
        """Sentence-level scores, word accuracy and loss (computed once, synced across ranks); then the report data."""
        acc, loss = getattr(self, f"{stage}_acc"), getattr(self, f"{stage}_loss")
        scores = {f"{stage}/{k}": v for k, v in self.sentence_scores(stage).items()}
        scores |= {f"{stage}/token_acc": acc.compute(), f"{stage}/loss": loss.compute()}
        self.log_dict(scores, prog_bar=False, sync_dist=False)  # already global: metric states were synced
        acc.reset()
        loss.reset()
        self.keep_for_reports(stage)
