"""Word tagging data for any tag set (part-of-speech, chunks...): the shared word pipeline, tags as they are."""

from __future__ import annotations

from src.tasks.words.data import WordTagDataModule


class TaggingDataModule(WordTagDataModule):
    """Words and one tag per word; the label set is the tags seen in train, sorted (or data.label_names)."""

    task_name = "tagging"
