"""Word tagging with any tag set: part-of-speech, chunking... (the worked example of docs/adding_a_task.md).

python src/train.py task=tagging                                         # CoNLL-2003 part-of-speech tags
python src/train.py task=tagging data.path=../shared/data/conll2003 model.pretrained=<dir>
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
from src.tasks.tagging import predict, report, synthetic
from src.tasks.tagging.data import TaggingDataModule
from src.tasks.tagging.module import TaggingModule
from src.tasks.words import WordTask
from src.utils.console import format_frame


class TaggingTask(WordTask):
    name = "tagging"
    datamodule_class = TaggingDataModule
    module_class = TaggingModule

    def data_section(self, train: Dataset, info: dict, max_length: int) -> Section:
        return report.data_section(train, info["label_names"])

    def eval_section(self, stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section:
        return report.eval_section(stage, predictions, info["label_names"])

    def console_summary(self, predictions: dict[str, torch.Tensor], info: dict) -> str | None:
        table = report.per_tag_table(predictions["pred"].long(), predictions["gold"].long(), info["label_names"])
        return format_frame(table, "test scores per tag")

    def matches(self, config: PretrainedConfig) -> bool:  # a token classifier whose labels are not BIO
        return self.has_head(config)

    def decode(self, predictor: Any, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list:
        return predict.decode(predictor, rows, encoded, outputs)

    def variants(self) -> dict[str, Variant]:
        def data(out: Path, seed: int) -> Path:
            return synthetic.write_pos_data(out, seed=seed)

        return {"pos": Variant(["data.tags_column=pos_tags"], data, [{"text": "the tall teacher sees a robot"}],
                               synthetic.corpus)}  # fmt: skip


TASK = TaggingTask()
