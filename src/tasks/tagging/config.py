"""Config keys of this task: word tagging's data keys (src/tasks/words/config.py), no task options of its own."""

from src.tasks.words.config import SCHEMAS

__all__ = ["SCHEMAS"]
