"""Console summaries of a run (metric tables, confusion matrices) and the flat config loggers get."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf


def scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics as plain floats (tensors from trainer.callback_metrics included)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[key] = float(value.item())
        elif isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as one level of dotted keys (what W&B/TensorBoard show best)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node if isinstance(node, (int, float, str, bool)) or node is None else str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return out


def format_table(title: str, rows: Mapping[str, Any]) -> str:
    """Two-column text table; floats with 4 decimals."""
    cells = [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in rows.items()]
    width = max((len(k) for k, _ in cells), default=0)
    rule = "-" * max(len(title), width + 2 + max((len(v) for _, v in cells), default=0))
    return "\n".join([title, rule, *(f"{k.ljust(width)}  {v}" for k, v in cells), rule])


def format_frame(table: Any, title: str) -> str:
    """A pandas table as text, floats with 4 decimals."""
    return f"{title}\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def format_confusion(matrix: list[list[int]], labels: list[str], title: str) -> str:
    """Confusion matrix as text: rows are gold labels, columns predictions."""
    width = max(len(x) for x in [*labels, *(str(v) for row in matrix for v in row)]) + 1
    header = " " * width + "".join(label.rjust(width) for label in labels)
    rows = [
        label.rjust(width) + "".join(str(v).rjust(width) for v in row)
        for label, row in zip(labels, matrix, strict=True)
    ]
    return "\n".join([f"{title} (rows: gold, columns: predicted)", header, *rows])
