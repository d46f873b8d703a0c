"""Extractive question answering LightningModule: start and end logits over each window's tokens.

Loss: the mean of the start and end cross-entropies (fp32; padding excluded from the softmax). Evaluation
scores whole questions: a question's windows arrive in one batch (data.py's `group_column`), its answer is
the best span over them (spans.py, utils_qa.py's n-best search), scored by the official SQuAD normalisation,
exact match and F1 against every gold answer (metrics.py). Per-question numbers are kept in a
PredictionStore, so the metrics are exact under DDP (states concatenated across ranks).

| metric (val/, test/) | |
|---|---|
| exact_match, f1 | fractions 0..1, the maximum over each question's gold answers |
| threshold, has_ans_f1, no_ans_f1 | SQuAD v2: the no-answer threshold on null - best span score that maximises F1, |
| | chosen at each validation, applied at test and prediction; F1 of answerable / unanswerable questions |
| loss | mean cross-entropy per window |
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from transformers import AutoModelForQuestionAnswering

from src.models.base import EncoderModule
from src.models.store import PredictionStore
from src.tasks.question_answering.metrics import best_threshold, has_answer, score, squad_metrics
from src.tasks.question_answering.spans import answers

STORE = ("example", "em", "f1", "diff", "has_answer", "start", "end")  # per question (start, end: characters)
DTYPES = (torch.long, torch.float, torch.float, torch.float, torch.bool, torch.long, torch.long)


class QuestionAnsweringModule(EncoderModule):
    """Fine-tunes `model.pretrained` with a span head (arguments: see EncoderModule).

    Args:
        version_2: SQuAD v2 (unanswerable questions: the null score competes with the best span).
        max_length, doc_stride: the windows of training, recorded for prediction.
        max_answer_length: longest answer in tokens; n_best: start and end candidates per window.
        threshold: v2's no-answer threshold; set at each validation, saved in checkpoints.
    """

    task_name = "question_answering"
    auto_class = AutoModelForQuestionAnswering

    def __init__(
        self,
        model: dict,
        label_names: list[str] | None = None,
        version_2: bool = False,
        max_length: int = 384,
        doc_stride: int = 128,
        max_answer_length: int = 30,
        n_best: int = 20,
        threshold: float = 0.0,
        class_weights: list[float] | None = None,
        backbone_config: dict | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        self.threshold = float(threshold)
        super().__init__(model, label_names, class_weights, backbone_config, steps_per_epoch)

    def make_metrics(self, label_names: list[str] | None) -> None:
        self.val_loss, self.test_loss = (MeanMetric() for _ in range(2))
        self.val_store, self.test_store = (PredictionStore(*STORE) for _ in range(2))

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        out = self(batch)
        start, end = out.start_logits.float(), out.end_logits.float()  # (B, T); fp32 loss under any precision
        if batch.get("attention_mask") is not None:  # padding takes no probability
            padding = batch["attention_mask"] == 0
            start, end = start.masked_fill(padding, float("-inf")), end.masked_fill(padding, float("-inf"))
        loss = (F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])) / 2
        return loss, (start, end)

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        loss, (start, end) = self.loss_and_logits(batch)
        getattr(self, f"{stage}_loss").update(loss, weight=len(start))
        groups = batch["example"].tolist()
        first = {q: i for i, q in reversed(list(enumerate(groups))) if batch["golds"][i]}  # the row with the texts
        found = answers(groups, start, end, batch["offset_start"], batch["offset_end"], self.hparams.n_best,
                        self.hparams.max_answer_length)  # fmt: skip
        rows = []
        for question, answer in found.items():
            context, golds = batch["context"][first[question]], batch["golds"][first[question]]
            text = context[answer.start : answer.end] if answer.found else ""
            em, f1 = score(text, golds, self.hparams.version_2)
            answerable = has_answer(golds) if self.hparams.version_2 else True
            rows.append((question, em, f1, answer.diff, answerable, answer.start, answer.end))
        columns = zip(STORE, zip(*rows, strict=True), DTYPES, strict=True)
        tensors = {k: torch.tensor(c, dtype=t, device=start.device) for k, c, t in columns}
        getattr(self, f"{stage}_store").update(**tensors)

    def end_epoch(self, stage: str) -> None:
        """SQuAD metrics over every question (all ranks); v2 validation first picks the no-answer threshold."""
        data, loss = getattr(self, f"{stage}_store").compute(), getattr(self, f"{stage}_loss")
        scores: dict[str, Any] = {f"{stage}/loss": loss.compute()}
        if len(data["example"]):
            v2 = self.hparams.version_2
            sanity = self._trainer is not None and self.trainer.sanity_checking
            if v2 and stage == "val" and not sanity:
                self.set_threshold(best_threshold(data["diff"], data["f1"], data["has_answer"]))
            threshold = self.threshold if v2 else None
            metrics = squad_metrics(data["em"], data["f1"], data["diff"], data["has_answer"], threshold)
            scores |= {f"{stage}/{k}": v for k, v in metrics.items()}
        self.log_dict(scores, prog_bar=False, sync_dist=False)  # already global: the store's states were gathered
        loss.reset()
        self.keep_for_reports(stage)

    def set_threshold(self, value: float) -> None:
        """The no-answer threshold, also in the hyperparameters: every checkpoint saved after this validation
        (the best one included) carries it."""
        self.threshold = float(value)
        self.hparams["threshold"] = self.threshold

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Testing the best checkpoint after fit restores its weights into this module: its threshold too."""
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get("hyper_parameters", {}).get("threshold")
        if saved is not None:
            self.set_threshold(saved)

    def export_info(self) -> dict[str, Any]:
        h = self.hparams
        info = {"task": self.task_name, "version_2": bool(h.version_2), "max_length": int(h.max_length),
                "doc_stride": int(h.doc_stride), "max_answer_length": int(h.max_answer_length),
                "n_best": int(h.n_best)}  # fmt: skip
        if h.version_2:
            info["threshold"] = self.threshold
        return info
