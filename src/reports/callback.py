"""The run report: figures and tables written to <output_dir>/report/ whatever the logger (csv,
tensorboard and none users see them too) and logged to W&B when a WandbLogger is attached.

Training data at fit start, validation whenever the monitored metric reaches a new best, test at the
end; report.md ties them together with the run's key settings and metrics. Rank 0 only; predictions
are gathered by the module's PredictionStore at epoch end, so the training loop gets no extra syncs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger
from omegaconf import OmegaConf

from src.reports import ner, sentiment
from src.reports.report import Section, markdown_table
from src.utils.log import get_logger

log = get_logger(__name__)
KEY_SETTINGS = ["task.name", "model.pretrained", "data.path", "data.max_length", "data.batch_size",
                "model.optimizer.lr", "trainer.max_epochs", "trainer.precision", "trainer.devices", "seed"]  # fmt: skip


class Reports(L.Callback):
    def __init__(
        self,
        out_dir: str,
        monitor: str,
        mode: str = "max",
        n_samples: int = 10,
        n_mistakes: int = 10,
        n_worst: int = 20,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.monitor, self.mode = monitor, mode
        self.n_samples, self.n_mistakes, self.n_worst = n_samples, n_mistakes, n_worst
        self.best = -math.inf if mode == "max" else math.inf
        self.sections: dict[str, Section] = {}
        self.metrics: dict[str, dict[str, float]] = {}  # stage -> its metrics when the section was made

    def _publish(self, trainer: L.Trainer, section: Section) -> None:
        section.save(self.out_dir / section.stage)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                section.log_wandb(logger.experiment, trainer.global_step)
        section.close()
        self.sections[section.stage] = section
        log.info("Report %s: %s", section.stage, self.out_dir / section.stage)

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            dm = trainer.datamodule
            task = sentiment if module.task == "sentiment" else ner
            self._publish(trainer, task.data_section(dm.splits["train"], dm.label_names, dm.meta["max_length"]))

    def _eval(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        dm, split = trainer.datamodule, "validation" if stage == "val" else "test"
        if module.task == "sentiment":
            section = sentiment.eval_section(stage, module.predictions[stage], dm.splits[split], dm.label_names,
                                             self.n_samples, self.n_mistakes)  # fmt: skip
        else:
            section = ner.eval_section(stage, module.predictions[stage], dm.splits[split], dm.label_names, self.n_worst)
        self.metrics[stage] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(f"{stage}/")}
        self._publish(trainer, section)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or not trainer.is_global_zero or score is None:
            return
        if (float(score) > self.best) if self.mode == "max" else (float(score) < self.best):
            self.best = float(score)
            self._eval(trainer, module, "val")
            self.metrics["val"]["epoch"] = trainer.current_epoch

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._eval(trainer, module, "test")
            self.write_markdown()

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.write_markdown()

    def write_markdown(self) -> Path:
        """report.md: key settings, metrics (best validation epoch and test), then every section."""
        lines = [f"# Run report: {self.out_dir.parent}", ""]
        config = self.out_dir.parent / ".hydra" / "config.yaml"
        if config.exists():
            cfg = OmegaConf.load(config)
            rows = [(k, OmegaConf.select(cfg, k, throw_on_resolution_failure=False)) for k in KEY_SETTINGS]
            rows = [(k, v) for k, v in rows if v is not None]
            lines += ["## Settings", "", "| key | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), "",
                      "Full configuration: `.hydra/config.yaml` (overrides: `.hydra/overrides.yaml`).", ""]  # fmt: skip
        lines += self._metrics_lines()
        for stage in ("data", "val", "test"):
            if stage in self.sections:
                lines += self._section_lines(self.sections[stage])
        path = self.out_dir.parent / "report.md"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _metrics_lines(self) -> list[str]:
        names = sorted({k.split("/", 1)[1] for stage in self.metrics.values() for k in stage if "/" in k})
        if not names:
            return []
        epoch = self.metrics.get("val", {}).get("epoch")
        best = f"validation (best epoch{f', {epoch}' if epoch is not None else ''})"
        lines = ["## Metrics", "", f"| metric | {best} | test |", "|---|---|---|"]
        for name in names:
            val, test = (self.metrics.get(s, {}).get(f"{s}/{name}") for s in ("val", "test"))
            lines.append(f"| {name} | {_fmt(val)} | {_fmt(test)} |")
        return [*lines, ""]

    def _section_lines(self, section: Section) -> list[str]:
        lines = [f"## {section.title}", ""]
        for name, path in section.saved.items():
            relative = path.relative_to(self.out_dir.parent)
            if name.endswith(".png"):
                lines += [f"![{name[:-4]}]({relative})", ""]
            else:
                lines += [f"**{name[:-4]}** (`{relative}`)", "", markdown_table(_read_csv(path)), ""]
        return lines


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"


def _read_csv(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False)
