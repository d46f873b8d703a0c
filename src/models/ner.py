"""Named-entity recognition (token classification) LightningModule.

Training: cross-entropy on each word's first sub-token (or all sub-tokens, see data.label_all_subtokens).
Evaluation is per word and per entity, on whole sentences: the windows of a long sentence arrive in the
same batch and are reassembled, each word taking its tag from the window where it had most context.
Metrics: entity-level precision/recall/F1 (micro and per type, seqeval semantics), word accuracy,
a tag confusion matrix; all torchmetrics states, synced across DDP ranks.
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix
from transformers import AutoModelForTokenClassification

from src.models.base import EncoderModule
from src.models.entities import EntityF1
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


class NERModule(EncoderModule):
    """Fine-tunes `model.pretrained` to tag each word with one of `label_names` (arguments: see EncoderModule)."""

    task = "ner"
    auto_class = AutoModelForTokenClassification

    def make_metrics(self, label_names: list[str]) -> None:
        n = len(label_names)
        self.outside = label_names.index("O")
        self.val_entities, self.test_entities = (EntityF1(label_names) for _ in range(2))
        self.val_acc, self.test_acc = (MulticlassAccuracy(n, average="micro") for _ in range(2))
        self.val_loss, self.test_loss = (MeanMetric() for _ in range(2))
        self.val_confusion, self.test_confusion = (MulticlassConfusionMatrix(n) for _ in range(2))
        # per word, for reports: sentence id, predicted and gold tag ids
        self.val_store, self.test_store = (PredictionStore("sentence", "pred", "gold") for _ in range(2))

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["input_ids"], batch["attention_mask"])  # (B, T, C)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), weight=self.class_weights)
        return loss, logits

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self.loss_and_logits(batch)
        preds = logits.argmax(dim=-1)  # (B, T)
        scored = batch["word_ids"] >= 0  # each word's first sub-token, in the window that scores it
        getattr(self, f"{stage}_acc").update(preds[scored], batch["labels"][scored])
        getattr(self, f"{stage}_confusion").update(preds[scored], batch["labels"][scored])
        getattr(self, f"{stage}_loss").update(loss, weight=int((batch["labels"] != -100).sum()))
        pred, gold, ids = assemble_sentences(batch["sentence"], batch["word_ids"], preds, batch["tags"], self.outside)
        getattr(self, f"{stage}_entities").update(pred, gold)
        flat = {
            "sentence": [s for s, tags in zip(ids, gold, strict=True) for _ in tags],
            "pred": [t for tags in pred for t in tags],
            "gold": [t for tags in gold for t in tags],
        }
        getattr(self, f"{stage}_store").update(**{k: torch.tensor(v, device=self.device) for k, v in flat.items()})

    def end_epoch(self, stage: str) -> None:
        """Entity scores (computed once, synced across ranks), word accuracy, loss; then the report data."""
        entity, acc, loss = (getattr(self, f"{stage}_{m}") for m in ("entities", "acc", "loss"))
        scores = {f"{stage}/{k}": v for k, v in entity.compute().items() if not k.endswith("/support")}
        scores |= {f"{stage}/token_acc": acc.compute(), f"{stage}/loss": loss.compute()}
        self.log_dict(scores, prog_bar=False, sync_dist=False)  # already global: metric states were synced
        for metric in (entity, acc, loss):
            metric.reset()
        self.keep_for_reports(stage)
