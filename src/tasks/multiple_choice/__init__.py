"""Multiple choice: a question (optionally with a context) and 2+ candidate answers -> the right one.

python src/train.py task=multiple_choice data.path=../shared/data/commonsense_qa model.pretrained=<dir>
python src/train.py experiment=commonsense_qa_minilm data.path=<commonsense_qa dir> model.pretrained=<minilm dir>
python src/train.py task=multiple_choice data.path=<swag dir> data.context_column=sent1 data.question_column=sent2 \
    data.choices_column=[ending0,ending1,ending2,ending3] data.label_column=label data.splits=null
python src/predict.py model_dir=<run>/hf_model question="Where do fish live?" choices='["a river", "a tree"]'
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
from src.tasks.multiple_choice import predict, report, synthetic
from src.tasks.multiple_choice.data import MultipleChoiceDataModule
from src.tasks.multiple_choice.module import MONITOR, MultipleChoiceModule

MODEL_IO = ModelIO(
    input_axes=("batch", "choice", "sequence"), outputs={"logits": ("batch", "choice")}, token_types=True
)
LIST_INPUTS = [  # 3 and 5 choices: predicted in one padded batch, each must equal the export run alone
    {"question": "which is a fruit", "choices": ["seven", "cherry", "blue"]},
    {"question": "which is a tool", "choices": ["loud", "never", "wrench", "under", "quickly"]},
]
CONTEXT_INPUTS = [
    {"context": "at the zoo", "question": "they found a", "choices": ["blue", "rabbit", "seven", "never"]},
]


class MultipleChoiceTask(Task):
    name = "multiple_choice"
    datamodule_class = MultipleChoiceDataModule
    module_class = MultipleChoiceModule
    pipeline_task = None  # transformers has no multiple-choice pipeline: the contract test checks AutoModelFor*

    def monitor(self, configured: str, info: dict) -> str:
        """`auto`: validation accuracy."""
        return MONITOR if configured == "auto" else configured

    def data_section(self, train: Dataset, info: dict, max_length: int) -> Section:
        return report.data_section(train, info, max_length)

    def eval_section(self, stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section:
        return report.eval_section(stage, predictions, split, info, examples)

    def console_summary(self, predictions: dict[str, torch.Tensor], info: dict) -> str | None:
        return report.console_summary(predictions)

    def model_io(self, info: dict) -> ModelIO:
        """(batch, choice, sequence) in, one score per choice out; pairs carry token types."""
        return MODEL_IO

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

    def variants(self) -> dict[str, Variant]:
        def data(rows_of: Any) -> Any:
            return lambda out, seed: synthetic.write_splits(rows_of, Path(out), 480, 60, seed)

        endings = ",".join(f"ending{i}" for i in range(4))
        swag = ["data.context_column=sent1", "data.question_column=sent2", f"data.choices_column=[{endings}]"]
        return {
            "list_column": Variant(
                ["data.splits=null", "data.choice_labels_column=choice_labels"],
                data(synthetic.question_rows),
                LIST_INPUTS,
                synthetic.corpus,
            ),
            "per_column_with_context": Variant(
                ["data.splits=null", *swag, "data.label_column=answer"],
                data(synthetic.context_rows),
                CONTEXT_INPUTS,
                synthetic.corpus,
            ),
        }


TASK = MultipleChoiceTask()
