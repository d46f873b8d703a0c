"""Named-entity recognition: tag each word with O / B-TYPE / I-TYPE; scored per entity (seqeval semantics).

python src/train.py task=ner                              # CoNLL-2003 from the hub
python src/train.py task=ner data.path=../shared/data/conll2003/text model.pretrained=<dir>
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PretrainedConfig

from src.inference.predictor import Encoded, Outputs
from src.reports.report import Section
from src.tasks.base import Variant
from src.tasks.ner import predict, report, synthetic
from src.tasks.ner.data import NERDataModule
from src.tasks.ner.module import NERModule
from src.tasks.words import WordTask
from src.utils.console import format_frame


class NERTask(WordTask):
    name = "ner"
    datamodule_class = NERDataModule
    module_class = NERModule

    def data_section(self, train: Dataset, info: dict, max_length: int) -> Section:
        return report.data_section(train, info["label_names"], max_length)

    def eval_section(self, stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section:
        return report.eval_section(stage, predictions, split, info["label_names"], examples)

    def console_summary(self, predictions: dict[str, torch.Tensor], info: dict) -> str | None:
        return format_frame(report.per_type_table(predictions, info["label_names"]), "test entities per type")

    def matches(self, config: PretrainedConfig) -> bool:
        labels = list((config.id2label or {}).values())
        return self.has_head(config) and all(t == "O" or t.startswith(("B-", "I-")) for t in labels)

    def check_model(self, config: PretrainedConfig, labels: list[str], where: str) -> None:
        predict.check_labels(labels, where)

    def decode(self, predictor: Any, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list:
        return predict.decode(predictor, rows, encoded, outputs)

    def pipeline_records(self, pipe: Any, rows: list[dict[str, Any]]) -> list[dict]:
        return predict.pipeline_records(pipe, rows)

    def variants(self) -> dict[str, Variant]:
        def data(out: Path, seed: int) -> Path:
            return synthetic.write_ner_data(out, n_train=160, n_val=40, n_test=40, seed=seed)

        return {"bio": Variant([], data, [{"text": "Alice met Bob in Paris"}], synthetic.corpus)}


TASK = NERTask()
