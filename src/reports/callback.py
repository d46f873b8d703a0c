"""The run report: figures and tables written to <output_dir>/report/ whatever the logger (csv,
tensorboard and none users see them too) and logged to W&B when a WandbLogger is attached.

Training data at fit start; validation of the best epoch (by the monitored metric) at fit end, also
when the run stops on an error or Ctrl-C; test at the end; report.md ties them together with the run's
key settings and metrics. A new best epoch only keeps its predictions (on CPU): rendering once per fit,
not once per improvement. Rank 0 only; predictions are gathered by the module's PredictionStore at
epoch end, so the training loop gets no extra syncs. The sections come from the run's task, handed in by the
entry point (`Task.data_section` / `Task.eval_section`); a task without its own gets the generic ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger
from omegaconf import OmegaConf

from src.reports.report import Section, markdown_table, md_cell
from src.utils.log import get_logger

log = get_logger(__name__)
KEY_SETTINGS = ["task.name", "task.monitor", "model.pretrained", "data.path", "data.max_length", "data.batch_size",
                "model.optimizer.lr", "trainer.max_epochs", "trainer.precision", "trainer.devices", "seed"]  # fmt: skip


class Reports(L.Callback):
    """Args:
    out_dir: where figures and tables go (report.md goes to its parent, the run directory).
    monitor, mode: the metric that picks the validation epoch reported.
    examples: rows of each example table.
    task: the run's Task (its `data_section` and `eval_section`); train.py and eval.py pass it.
    """

    def __init__(self, out_dir: str, monitor: str, mode: str = "max", examples: int = 10, task: Any = None) -> None:
        if task is None:
            raise ValueError("Reports needs the run's task: build it with instantiate_group(cfg, task=task).")
        self.task = task
        self.out_dir = Path(out_dir)
        self.monitor, self.mode = monitor, mode
        self.examples = examples  # rows of each example table (random samples, worst mistakes)
        self.best = -math.inf if mode == "max" else math.inf
        self.sections: dict[str, Section] = {}
        self.metrics: dict[str, dict[str, float]] = {}  # stage -> its metrics when the section was made
        self.best_val: dict[str, Any] | None = None  # predictions, metrics, epoch and step of the best epoch

    def _publish(self, trainer: L.Trainer, section: Section | None, step: int) -> None:
        if section is None:  # the task has no section of this kind
            return
        section.save(self.out_dir / section.stage)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                section.log_wandb(logger.experiment, step)
        section.close()
        self.sections[section.stage] = section
        log.info("Report %s: %s", section.stage, self.out_dir / section.stage)

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            dm = trainer.datamodule
            section = self.task.data_section(dm.splits["train"], run_info(dm, module), dm.max_length)
            self._publish(trainer, section, trainer.global_step)

    def _eval(self, trainer: L.Trainer, module: L.LightningModule, stage: str, predictions: dict, step: int) -> None:
        dm, split = trainer.datamodule, "validation" if stage == "val" else "test"
        info = run_info(dm, module)
        self._publish(trainer, self.task.eval_section(stage, predictions, dm.splits[split], info, self.examples), step)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or not trainer.is_global_zero or score is None:
            return
        if (float(score) > self.best) if self.mode == "max" else (float(score) < self.best):
            self.best = float(score)
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            self.best_val = {
                "predictions": {k: v.detach().cpu() for k, v in module.predictions["val"].items()},
                "metrics": {**metrics, "epoch": trainer.current_epoch},
                "step": trainer.global_step,
            }

    def _report_best_val(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.best_val is not None:
            best, self.best_val = self.best_val, None
            self.metrics["val"] = best["metrics"]
            self._eval(trainer, module, "val", best["predictions"], best["step"])

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._report_best_val(trainer, module)
        if trainer.is_global_zero:
            self.write_markdown()

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        try:
            self._report_best_val(trainer, module)  # an interrupted run keeps its best epoch's report
            if trainer.is_global_zero:
                self.write_markdown()
        except Exception as err:  # the original error matters more than the report
            log.warning("Could not write the validation report after the error: %s", err)

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.metrics["test"] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
            self._eval(trainer, module, "test", module.predictions["test"], trainer.global_step)
            self.write_markdown()

    def write_markdown(self) -> Path:
        """report.md: key settings, metrics (best validation epoch and test), then every section."""
        lines = [f"# Run report: {self.out_dir.parent}", ""]
        config = self.out_dir.parent / ".hydra" / "config.yaml"
        if config.exists():
            cfg = OmegaConf.load(config)
            rows = [(k, OmegaConf.select(cfg, k, throw_on_resolution_failure=False)) for k in KEY_SETTINGS]
            rows = [(k, v) for k, v in rows if v is not None]
            table = [f"| {k} | {md_cell(v)} |" for k, v in rows]
            lines += ["## Settings", "", "| key | value |", "|---|---|", *table, "",
                      "Full configuration: `.hydra/config.yaml` (overrides: `.hydra/overrides.yaml`).", ""]  # fmt: skip
        lines += self._metrics_lines()
        for stage in ("data", "val", "test"):
            if stage in self.sections:
                lines += self._section_lines(self.sections[stage])
        path = self.out_dir.parent / "report.md"
        path.parent.mkdir(parents=True, exist_ok=True)  # a task without report sections creates no folder
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


def run_info(datamodule: L.LightningDataModule, module: L.LightningModule) -> dict[str, Any]:
    """What a task's report needs to know: the data's info (labels, problem type) and the trained module's
    decisions (e.g. multi-label thresholds), as export_info records them."""
    return {**datamodule.info, **module.export_info()}


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"


def _read_csv(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False)
