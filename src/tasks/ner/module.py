"""Named-entity recognition LightningModule: word tagging (src/tasks/words/module.py) plus entity-level metrics.

Metrics: entity-level precision/recall/F1 (micro and per type, seqeval semantics), word accuracy and
loss; a tag confusion matrix in the report. All torchmetrics states, synced across DDP ranks.
"""

from __future__ import annotations

import torch

from src.tasks.ner.entities import EntityF1
from src.tasks.words.module import WordTagModule


class NERModule(WordTagModule):
    """Fine-tunes `model.pretrained` to tag each word with one of `label_names` (arguments: see EncoderModule)."""

    task_name = "ner"

    def outside(self, label_names: list[str]) -> int:
        return label_names.index("O")

    def make_sentence_metrics(self, label_names: list[str]) -> None:
        self.val_entities, self.test_entities = (EntityF1(label_names) for _ in range(2))

    def update_sentence_metrics(self, stage: str, pred: list[list[int]], gold: list[list[int]]) -> None:
        getattr(self, f"{stage}_entities").update(pred, gold)

    def sentence_scores(self, stage: str) -> dict[str, torch.Tensor | float]:
        entity = getattr(self, f"{stage}_entities")
        scores = {k: v for k, v in entity.compute().items() if not k.endswith("/support")}
        entity.reset()
        return scores
