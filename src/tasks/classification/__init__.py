"""Sequence classification: one text or a sentence pair -> one label, a set of labels, or a score.

python src/train.py                                   # IMDB sentiment (task=classification data=imdb)
python src/train.py experiment=sick_entailment_minilm data.path=../shared/data/sick model.pretrained=<dir>
python src/train.py data.path=tweets.csv data.label_column=[anger,joy] data.label_names=null   # multi-label
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PretrainedConfig

from src.inference.inputs import Field
from src.inference.predictor import Encoded, Outputs
from src.models.io import ModelIO
from src.reports.report import Section
from src.tasks.base import Task, Variant
from src.tasks.classification import predict, report, synthetic
from src.tasks.classification.config import ClassificationOptions
from src.tasks.classification.data import MULTI, SINGLE, ClassificationDataModule
from src.tasks.classification.module import MONITOR, ClassificationModule
from src.utils.console import format_confusion, format_frame


class ClassificationTask(Task):
    name = "classification"
    datamodule_class = ClassificationDataModule
    module_class = ClassificationModule
    options_class = ClassificationOptions
    pipeline_task = "text-classification"

    def monitor(self, configured: str, info: dict) -> str:
        """`auto`: accuracy (single label), micro F1 (multi-label) or Pearson's r (regression); all maximised."""
        return MONITOR[info["problem_type"]] if configured == "auto" else configured

    def data_section(self, train: Dataset, info: dict, max_length: int) -> Section:
        return report.data_section(train, info, max_length)

    def eval_section(self, stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section:
        return report.eval_section(stage, predictions, split, info, examples)

    def console_summary(self, predictions: dict[str, torch.Tensor], info: dict) -> str | None:
        names, kind = info["label_names"], info["problem_type"]
        if kind == SINGLE:
            probs, labels = predictions["probs"], predictions["labels"].long()
            matrix = torch.zeros(len(names), len(names), dtype=torch.long)
            matrix.index_put_((labels, probs.argmax(-1)), torch.ones_like(labels), accumulate=True)
            return format_confusion(matrix.tolist(), names, "test confusion matrix")
        if kind == MULTI:
            cut = info.get("thresholds") or [0.5] * len(names)
            table = report.per_label_table(predictions["probs"].float(), predictions["labels"].float(), names, cut)
            return format_frame(table, "test scores per label")
        return None

    def model_io(self, info: dict) -> ModelIO:
        return ModelIO(token_types=bool(info.get("text_pair")))

    def fields(self, info: dict) -> list[Field]:
        return predict.fields(info)

    def matches(self, config: PretrainedConfig) -> bool:
        return self.has_head(config)

    def check_settings(self, settings: Any, budget: int, info: dict) -> None:
        predict.check_settings(settings, budget, info)

    def encode(self, predictor: Any, rows: list[dict[str, Any]]) -> Encoded:
        return predict.encode(predictor, rows)

    def decode(self, predictor: Any, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list:
        return predict.decode(predictor, rows, encoded, outputs)

    def pipeline_records(self, pipe: Any, rows: list[dict[str, Any]]) -> list[dict]:
        return predict.pipeline_records(pipe, rows)

    def variants(self) -> dict[str, Variant]:
        def data(rows_of, n: int) -> Any:
            return lambda out, seed: synthetic.write_splits(rows_of, Path(out), n, n // 4, seed)

        pair = synthetic.pair_rows(2, 99)[0]
        topics = ",".join(synthetic.TOPICS)
        return {
            "single_label": Variant(
                ["data.label_names=[neg,pos]"],
                data(synthetic.sentiment_rows, 240),
                [{"text": "A wonderful, moving film."}],
                synthetic.corpus,
            ),
            "pair": Variant(
                ["data.text_pair_column=text_pair", "data.label_names=null"],
                data(synthetic.pair_rows, 240),
                [{"text": pair["text"], "text_pair": pair["text_pair"]}],
                synthetic.corpus,
            ),
            "multi_label": Variant(
                [f"data.label_column=[{topics}]", "data.label_names=null", "task.threshold=0.4"],
                data(synthetic.multi_label_rows, 240),
                [{"text": "the team scored a goal and ate pasta"}],
                synthetic.corpus,
            ),
            "regression": Variant(
                ["data.label_column=score", "data.label_names=null", "data.problem_type=regression"],
                data(synthetic.regression_rows, 240),
                [{"text": "a great and superb film"}],
                synthetic.corpus,
            ),
        }


TASK = ClassificationTask()
