"""A report section (figures + tables), saved as PNG/CSV/Markdown whatever the logger, and logged to W&B
when a WandbLogger is attached."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from src.reports.figures import close


@dataclass
class Section:
    """One stage's report: `val` (best epoch), `test` or `data` (the training data)."""

    stage: str
    title: str
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # inputs of W&B's native plots: {"confusion": (y_true, y_pred, names), "roc"/"pr": (y_true, probs, names)}
    native: dict[str, tuple] = field(default_factory=dict)
    saved: dict[str, Path] = field(default_factory=dict)  # file name -> path, filled by save()

    def save(self, out_dir: Path) -> None:
        """figures -> <name>.png; tables -> <name>.csv and <name>.md; figures are closed afterwards."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, fig in self.figures.items():
            self.saved[f"{name}.png"] = out_dir / f"{name}.png"
            fig.savefig(out_dir / f"{name}.png", dpi=120)
        for name, table in self.tables.items():
            table.to_csv(out_dir / f"{name}.csv", index=False)
            (out_dir / f"{name}.md").write_text(markdown_table(table))
            self.saved[f"{name}.csv"] = out_dir / f"{name}.csv"

    def log_wandb(self, experiment: Any, step: int) -> None:
        """Images, tables and W&B's interactive confusion matrix / ROC / PR plots, under `<stage>/`."""
        import wandb

        payload: dict[str, Any] = {"trainer/global_step": step}
        for name, path in self.saved.items():
            if name.endswith(".png"):
                payload[f"{self.stage}/{name[:-4]}"] = wandb.Image(str(path))
        for name, table in self.tables.items():
            payload[f"{self.stage}/{name}_table"] = wandb.Table(dataframe=table)
        if "confusion" in self.native:
            y_true, y_pred, names = self.native["confusion"]
            payload[f"{self.stage}/confusion_matrix_interactive"] = wandb.plot.confusion_matrix(
                y_true=y_true, preds=y_pred, class_names=names
            )
        for kind, plot in (("roc", wandb.plot.roc_curve), ("pr", wandb.plot.pr_curve)):
            if kind in self.native:
                y_true, probs, names = self.native[kind]
                payload[f"{self.stage}/{kind}_interactive"] = plot(y_true, probs, labels=names)
        experiment.log(payload)

    def close(self) -> None:
        for fig in self.figures.values():
            close(fig)
        self.figures.clear()


def stage_title(stage: str) -> str:
    return "validation (best epoch)" if stage == "val" else "test"


MARKDOWN_ESCAPES = {"|": "\\|", "<": "&lt;", ">": "&gt;", "\r": " ", "\n": " ", "\t": " "}


def md_cell(value: Any, max_chars: int = 300) -> str:
    """One table cell: a label or a text from the data must not break the table (`|`, line breaks) or inject
    HTML (`<script>`) into a rendered report; long cells are cut."""
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    text = "".join(MARKDOWN_ESCAPES.get(c, c if c.isprintable() else " ") for c in text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def markdown_table(table: pd.DataFrame, max_chars: int = 300) -> str:
    """A pipe table, header and cells escaped (`md_cell`)."""
    header = "| " + " | ".join(md_cell(c, max_chars) for c in table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(md_cell(v, max_chars) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"
