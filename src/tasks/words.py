"""What the word-tagging tasks (ner, tagging) share at prediction time: the tokenizer as training loaded it
(byte-level BPE with add_prefix_space: words arrive pre-split), windows over long texts, the token pipeline."""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase

from src.inference.words import check_stride
from src.models.backbone import load_word_tokenizer
from src.tasks.base import Task


class WordTask(Task):
    """Base of tasks that label every word; subclasses add their data module, module, reports and records."""

    pipeline_task = "token-classification"

    def load_tokenizer(self, source: str, key: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
        return load_word_tokenizer(source, trust_remote_code=trust_remote_code, key=key)

    def check_settings(self, settings: Any, budget: int, info: dict) -> None:
        check_stride(settings, budget)
