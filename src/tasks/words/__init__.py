"""Word tagging, the family the ner and tagging tasks share, in one place: its data module (`data.py`: CoNLL and
list-column readers, sub-token alignment, windows over long sentences), its LightningModule (`module.py`:
first-sub-token loss, whole-sentence evaluation) and its predictions (`predict.py`: word layouts, windows,
per-word probabilities). `WordTask` is the base of those tasks; it is not registered itself."""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase

from src.inference.inputs import Field
from src.inference.predictor import Encoded
from src.models.io import ModelIO
from src.tasks.base import Task
from src.tasks.words.data import load_word_tokenizer
from src.tasks.words.predict import FIELDS, MODEL_IO, check_stride, encode_words


class WordTask(Task):
    """Base of tasks that label every word; subclasses add their data module, module, reports and `decode`."""

    pipeline_task = "token-classification"

    def model_io(self, info: dict) -> ModelIO:
        return MODEL_IO

    def fields(self, info: dict) -> list[Field]:
        return FIELDS

    def load_tokenizer(self, source: str, key: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
        return load_word_tokenizer(source, trust_remote_code=trust_remote_code, key=key)

    def check_settings(self, settings: Any, budget: int, info: dict) -> None:
        check_stride(settings, budget)

    def encode(self, predictor: Any, rows: list[dict[str, Any]]) -> Encoded:
        return encode_words(predictor, rows)
