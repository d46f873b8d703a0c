"""Word tagging LightningModule: per-word accuracy (token_acc) and macro F1 over the tag set (f1)."""

from __future__ import annotations

import torch
from torchmetrics.classification import MulticlassF1Score

from src.tasks.words.module import WordTagModule


class TaggingModule(WordTagModule):
    """Fine-tunes `model.pretrained` to tag each word (arguments: see EncoderModule)."""

    task_name = "tagging"

    def make_sentence_metrics(self, label_names: list[str]) -> None:
        self.val_f1, self.test_f1 = (MulticlassF1Score(len(label_names), average="macro") for _ in range(2))

    def update_sentence_metrics(self, stage: str, pred: list[list[int]], gold: list[list[int]]) -> None:
        flat = [torch.tensor([t for tags in x for t in tags], device=self.device) for x in (pred, gold)]
        getattr(self, f"{stage}_f1").update(*flat)

    def sentence_scores(self, stage: str) -> dict[str, torch.Tensor | float]:
        metric = getattr(self, f"{stage}_f1")
        scores = {"f1": metric.compute()}
        metric.reset()
        return scores
