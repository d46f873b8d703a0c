"""Predictions kept for the end-of-epoch reports, as a torchmetrics Metric: list states concatenated
across DDP ranks on compute() (uneven shards are fine), on the device until then (no per-step sync)."""

from __future__ import annotations

import torch
from torchmetrics import Metric


class PredictionStore(Metric):
    """store = PredictionStore("probs", "labels"); store.update(probs=..., labels=...); store.compute()["probs"]"""

    full_state_update = False

    def __init__(self, *fields: str) -> None:
        super().__init__()
        self.fields = fields
        for name in fields:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, **values: torch.Tensor) -> None:
        for name in self.fields:
            getattr(self, name).append(values[name].detach())

    def compute(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.fields:
            value = getattr(self, name)
            # after a DDP sync the list state is already one concatenated tensor
            out[name] = (torch.cat(value) if value else torch.empty(0)) if isinstance(value, list) else value
        return {k: v.cpu() for k, v in out.items()}
