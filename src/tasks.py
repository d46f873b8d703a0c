"""The tasks this template trains: name -> (data module, LightningModule)."""

from __future__ import annotations

import lightning as L

from src.data.base import TokenizedDataModule
from src.data.ner import NERDataModule
from src.data.sentiment import SentimentDataModule
from src.models.ner import NERModule
from src.models.sentiment import SentimentModule

TASKS: dict[str, tuple[type[TokenizedDataModule], type[L.LightningModule]]] = {
    "sentiment": (SentimentDataModule, SentimentModule),
    "ner": (NERDataModule, NERModule),
}


def get_task(name: str) -> tuple[type[TokenizedDataModule], type[L.LightningModule]]:
    if name not in TASKS:
        raise KeyError(f"task.name={name!r} is unknown. Use task={' or task='.join(TASKS)}.")
    return TASKS[name]
