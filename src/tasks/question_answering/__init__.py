"""Extractive question answering (SQuAD v1.1 and v2.0): a span of the context answers the question, or (v2) none.

python src/train.py task=question_answering                      # SQuAD v1.1 from the hub (data=squad)
python src/train.py task=question_answering data=squad_v2        # SQuAD v2.0: unanswerable questions
python src/train.py experiment=squad_minilm data.path=<squad dir> model.pretrained=<all-MiniLM-L6-v2 dir>
python src/predict.py model_dir=<run>/hf_model question="Who owns the red car?" context="The red car belongs to Ann."

transformers 5 removed its "question-answering" pipeline, so `pipeline_task` is None: the contract test checks
predictions against the export loaded in AutoModelForQuestionAnswering (and ONNX); `score` keeps the meaning
the pipeline gave it (see predict.py).
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
from src.tasks.question_answering import predict, report, synthetic
from src.tasks.question_answering.data import QuestionAnsweringDataModule
from src.tasks.question_answering.module import QuestionAnsweringModule
from src.utils.console import format_frame


class QuestionAnsweringTask(Task):
    name = "question_answering"
    datamodule_class = QuestionAnsweringDataModule
    module_class = QuestionAnsweringModule

    def monitor(self, configured: str, info: dict) -> str:
        """`auto`: val/f1 (SQuAD's headline metric; v2: at the chosen no-answer threshold)."""
        return "val/f1" if configured == "auto" else configured

    def data_section(self, train: Dataset, info: dict, max_length: int) -> Section:
        return report.data_section(train, info, max_length)

    def eval_section(self, stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section:
        return report.eval_section(stage, predictions, split, info, examples)

    def console_summary(self, predictions: dict[str, torch.Tensor], info: dict) -> str | None:
        return format_frame(report.summary_table(predictions, info), "test questions")

    def model_io(self, info: dict) -> ModelIO:
        return predict.MODEL_IO

    def fields(self, info: dict) -> list[Field]:
        return predict.FIELDS

    def matches(self, config: PretrainedConfig) -> bool:
        return self.has_head(config)

    def encode(self, predictor: Any, rows: list[dict[str, Any]]) -> Encoded:
        return predict.encode(predictor, rows)

    def decode(self, predictor: Any, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]) -> list:
        return predict.decode(predictor, rows, encoded, outputs)

    def variants(self) -> dict[str, Variant]:
        def data(unanswerable: float) -> Any:
            return lambda out, seed: synthetic.write_splits(Path(out), 240, 60, seed, unanswerable)

        # the files' own train/validation/test splits; windows short enough for long contexts to need several
        small = ["data.splits=null", "data.max_length=48", "data.doc_stride=16", "data.max_answer_length=8"]
        short = "The red car is old. The blue boat belongs to bob smith."
        things = zip(synthetic.COLOURS[:7], synthetic.OBJECTS[:7], strict=True)  # 7 sentences, then the owner's
        long = " ".join(f"The {colour} {obj} is new." for colour, obj in things) + " The grey piano belongs to heidi."
        inputs = [
            {"question": "Who owns the blue boat?", "context": short},
            {"question": "Who owns the grey piano?", "context": long},  # the answer lies in the second window
        ]
        return {
            "squad_v1": Variant(small, data(0.0), inputs, synthetic.corpus),
            "squad_v2": Variant([*small, "data.version_2=null"], data(0.3), inputs, synthetic.corpus),
        }


TASK = QuestionAnsweringTask()
