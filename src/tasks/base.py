"""The Task: one object per task that shared code (train/eval/predict, reports, tests) talks to.

A task subclass names its data module and LightningModule and may refine the other hooks; each hook
here has a generic fallback, so a new task needs only its data module and module to train, evaluate,
export, report and predict. A task of another shape declares it: its model's inputs and outputs
(`model_io`: extra axes such as choices, outputs such as start/end logits), its prediction input fields
(`fields`), how rows become sequences (`encode`) and raw outputs records (`decode`). See
docs/adding_a_task.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from datasets import Dataset
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from src.data.base import TokenizedDataModule, column
from src.inference.inputs import Field
from src.inference.predictor import Encoded, Outputs
from src.models.backbone import load_tokenizer
from src.models.base import EncoderModule
from src.models.io import ModelIO
from src.reports.figures import histogram_figure
from src.reports.report import Section
from src.tasks.config import TaskConfig
from src.utils.errors import ConfigError
from src.utils.schema import build, plain

if TYPE_CHECKING:
    from src.inference.predictor import Predictor, Settings


@dataclass
class Variant:
    """One shape of a task for the contract test and `python -m src.demo` (e.g. classification's sentence
    pairs): config overrides, a writer of a small synthetic dataset, and inputs to predict."""

    overrides: list[str]
    write_data: Callable[[Path, int], Path]  # (directory, seed) -> data.path
    inputs: list[dict[str, Any]]  # predict.py inputs: the task's fields, {"text": ...} (+ "text_pair")...
    corpus: Callable[[], list[str]] = field(default=list)  # texts the tiny test tokenizer learns its vocabulary from


class Task:
    """Base task. Subclasses set `name`, `datamodule_class`, `module_class` (whose `auto_class` is the HF head)."""

    name: ClassVar[str]
    datamodule_class: ClassVar[type[TokenizedDataModule]]
    module_class: ClassVar[type[EncoderModule]]
    options_class: ClassVar[type[TaskConfig]] = TaskConfig  # task.* keys; those beyond TaskConfig's go to the module
    pipeline_task: ClassVar[str | None] = None  # the transformers.pipeline that loads an exported model, if any

    @property
    def auto_class(self) -> type:
        return self.module_class.auto_class

    # ------------------------------------------------------------------ training
    def datamodule(self, data: Any, **kwargs: Any) -> TokenizedDataModule:
        return self.datamodule_class(data, **kwargs)

    def options(self, task_cfg: Any) -> dict[str, Any]:
        """The task.* keys the module takes (those of `options_class` beyond every task's name and monitor), typed
        and checked (a misspelt key is an error, not silently ignored)."""
        options = build(self.options_class, task_cfg, "task")
        common = {f.name for f in dataclasses.fields(TaskConfig)}
        return {f.name: plain(getattr(options, f.name)) for f in dataclasses.fields(options) if f.name not in common}

    def module(self, model: dict, model_args: dict, options: dict, steps_per_epoch: int | None) -> EncoderModule:
        return self.module_class(model=model, **model_args, **options, steps_per_epoch=steps_per_epoch)

    def load_module(self, path: str, **overrides: Any) -> EncoderModule:
        """A module from a checkpoint, on CPU, weights only (no pickled code); `overrides` replace saved
        hyperparameters (the current command's `trust_remote_code` replaces the checkpoint's)."""
        return self.module_class.load_from_checkpoint(path, map_location="cpu", weights_only=True, **overrides)

    def monitor(self, configured: str, info: dict) -> str:
        """The validation metric that picks the best checkpoint (`task.monitor`); a task may resolve `auto`."""
        if configured == "auto":
            raise ConfigError(f"task.monitor=auto is not supported by task {self.name}: name a val/ metric.")
        return configured

    # ------------------------------------------------------------------ reports and console
    def data_section(self, train: Dataset, info: dict, max_length: int) -> Section | None:
        """Report section on the training data; generic: the token lengths."""
        section = Section("data", "Training data")
        section.figures["token_lengths"] = histogram_figure(
            column(train, "length").tolist(), max_length, f"Tokens per training row ({len(train)} rows)", "tokens"
        )
        return section

    def eval_section(self, stage: str, predictions: dict, split: Dataset, info: dict, examples: int) -> Section | None:
        """Report section of an evaluation (figures and tables); generic: none (metrics are in report.md)."""
        return None

    def console_summary(self, predictions: dict[str, torch.Tensor], info: dict) -> str | None:
        """Text printed after the test metrics (e.g. a confusion matrix); generic: nothing."""
        return None

    # ------------------------------------------------------------------ inference
    def model_io(self, info: dict) -> ModelIO:
        """What the model reads and returns (axes, outputs, token types), from the exported model's `finetune`
        record (`info`); generic: one sequence in, one logits vector out."""
        return ModelIO()

    def fields(self, info: dict) -> list[Field]:
        """The input fields predict.py reads for this model, in order (a plain string is the first); generic:
        one text."""
        return [Field("text", help="the text to classify")]

    def matches(self, config: PretrainedConfig) -> bool:
        """Whether an exported model without our `finetune` record belongs to this task (by its head, see
        `has_head`); generic: no model is claimed without the record."""
        return False

    def has_head(self, config: PretrainedConfig) -> bool:
        """Whether the model's architecture is this task's head: `auto_class` AutoModelForX -> a *ForX class."""
        head = self.auto_class.__name__.removeprefix("AutoModel")
        return any(a.endswith(head) for a in config.architectures or [])

    def load_tokenizer(self, source: str, key: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
        return load_tokenizer(source, trust_remote_code=trust_remote_code, key=key)

    def check_model(self, config: PretrainedConfig, labels: list[str], where: str) -> None:
        """Refuse an exported model the task cannot post-process (e.g. NER labels that are not BIO)."""

    def check_settings(self, settings: Settings, budget: int, info: dict) -> None:
        """Refuse predict settings that make no sense for this task, naming the key."""

    def encode(self, predictor: Predictor, rows: list[dict[str, Any]]) -> Encoded:
        """Input rows (non-empty, checked against `fields`) -> the model's sequences; generic: the first field's
        text, cut to max_length (head)."""
        name = self.fields(predictor.info)[0].name
        ids = predictor.tokenizer([r[name] for r in rows], add_special_tokens=False)["input_ids"]
        sequences = [{"input_ids": predictor.prefix + x[: predictor.budget] + predictor.suffix} for x in ids]
        return Encoded(sequences, list(range(len(rows))))

    def decode(
        self, predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list[Outputs]
    ) -> list:
        """Post-processing: the raw outputs of every sequence -> one record per row; generic: the arg-max
        label(s) and the logits."""
        records = []
        for out in outputs:
            logits = out["logits"]
            best = logits.argmax(-1)
            label = [predictor.labels[i] for i in best.tolist()] if logits.dim() == 2 else predictor.labels[int(best)]
            records.append({"label": label, "logits": logits.tolist()})
        return records

    def pipeline_records(self, pipe: Any, rows: list[dict[str, Any]]) -> list[dict] | None:
        """What `transformers.pipeline(self.pipeline_task)` answers for `rows`, in the keys of our records (the
        contract test compares them with predict.py's); None: the pipeline's answers are not comparable."""
        return None

    # ------------------------------------------------------------------ contract test and demo
    def variants(self) -> dict[str, Variant]:
        """The task's shapes with synthetic data (the contract test runs each end to end)."""
        return {}
