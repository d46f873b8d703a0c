"""Accuracy and speed of this template against a plain Hugging Face `transformers.Trainer`, same everything.

An accuracy figure for the template means little without the figure the standard recipe reaches on the same
data, so this script trains the same backbone twice, back to back, each side in its own process:

  template    src/train.py's train() with the composed config (no loggers, reports or export: not needed here)
  hf_trainer  transformers.Trainer as a careful user writes it: AutoModelForSequenceClassification,
              DataCollatorWithPadding, train_sampling_strategy="group_by_length", evaluation every epoch,
              load_best_model_at_end with the template's `task.monitor`

Both read every setting from one composed config (the one `python src/train.py experiment=<name> ...` runs):
lr, weight decay, betas, eps, linear warmup, gradient clipping, batch size, epochs, seed, precision, early
stopping patience; both train on the same tokenized rows (the template's data module builds them; the Trainer
gets exactly those input_ids, token_type_ids and labels). The test metrics of both come from the template
module's own metric code, so a difference is the training, not the scoring.

    python benchmarks/compare_hf.py --experiment sick_entailment_minilm --data ../shared/data/sick \\
        --model <minilm dir> --out docs/compare/sick_entailment
    python benchmarks/compare_hf.py ... --overrides trainer.max_epochs=1 data.max_samples.train=200   # a quick look

Writes <out>.json and <out>.md; what still differs between the two recipes is listed under "Notes" there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the parent process must not pay for these imports
    import lightning as L
    from omegaconf import DictConfig
    from transformers import PreTrainedModel, TrainingArguments

    from src.tasks.classification.data import ClassificationDataModule
    from src.tasks.classification.module import ClassificationModule

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` and `benchmarks` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenization is done before dataloader workers fork

# Only the children import torch, Lightning and transformers (~10 s of CPU each): the parent just composes configs.
SIDES = ("template", "hf_trainer")
# the template's defaults, minus what a comparison does not need (and what would slow its fit: report figures)
QUIET = ["logger=none", "export=false", "callbacks.reports=null"]
PRECISIONS = {"auto", "32", "32-true", "bf16-mixed", "16-mixed"}  # what TrainingArguments can mirror


# ------------------------------------------------------------------------------------------------ config
def overrides(args: argparse.Namespace) -> list[str]:
    """The Hydra overrides of both sides; the user's --overrides come last and win."""
    return [f"experiment={args.experiment}", f"data.path={args.data}", f"model.pretrained={args.model}", *QUIET,
            *args.overrides]  # fmt: skip


def compose(args: argparse.Namespace, output_dir: Path, extra: list[str] | None = None) -> DictConfig:
    """The config `python src/train.py <overrides>` would run, with its outputs in `output_dir`."""
    from src.cli import compose_config

    return compose_config([*overrides(args), *(extra or [])], output_dir=output_dir)


def check_mirrorable(cfg: DictConfig) -> None:
    """Refuse settings the plain Trainer side cannot reproduce: a comparison with them would be misleading."""
    model, trainer, callbacks = cfg.model, cfg.trainer, cfg.callbacks or {}
    problems = {
        "task.name": cfg.task.name != "classification",
        "model.optimizer._target_": model.optimizer.get("_target_") != "torch.optim.AdamW",
        "model.scheduler": not model.scheduler or model.scheduler.get("_target_") != "src.models.optim.warmup_schedule",
        "model.class_weights": model.get("class_weights") is not None,
        "model.freeze_backbone": bool(model.get("freeze_backbone")),
        "model.compile": bool(model.get("compile")),
        "trainer.devices": str(trainer.devices) != "1",
        "trainer.precision": str(trainer.precision) not in PRECISIONS,
        "trainer.val_check_interval": float(trainer.val_check_interval) != 1.0 or trainer.check_val_every_n_epoch != 1,
        "callbacks.model_checkpoint": callbacks.get("model_checkpoint") is None,
    }
    bad = [key for key, problem in problems.items() if problem]
    if bad:
        raise SystemExit(
            f"compare_hf: {', '.join(bad)} cannot be mirrored by the plain Trainer (it supports one device, AdamW "
            "with a transformers schedule, validation once per epoch, a best checkpoint, no class weights, "
            "frozen backbone or compile). Fix: drop those overrides."
        )


def settings(cfg: DictConfig) -> dict[str, Any]:
    """The shared hyperparameters, as the report shows them."""
    opt, sched, data, trainer = cfg.model.optimizer, cfg.model.scheduler, cfg.data, cfg.trainer
    warmup = f"{sched.warmup_steps} steps" if sched.warmup_steps is not None else f"ratio {sched.warmup_ratio}"
    return {
        "model": str(cfg.model.pretrained), "data": str(data.path), "optimizer": f"AdamW (fused={opt.fused})",
        "lr": opt.lr, "weight_decay": opt.weight_decay, "betas": list(opt.betas), "eps": opt.eps,
        "schedule": f"{sched.name}, warmup {warmup}", "gradient_clip": trainer.gradient_clip_val,
        "batch_size": data.batch_size, "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "eval_batch_size": data.eval_batch_size, "max_epochs": trainer.max_epochs, "max_steps": trainer.max_steps,
        "max_length": data.max_length, "seed": cfg.seed, "precision": str(trainer.precision),
        "monitor": f"{cfg.task.monitor} ({cfg.task.monitor_mode})", "group_by_length": data.group_by_length,
        "num_workers": data.num_workers,
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------ both sides
def data_module(cfg: DictConfig) -> ClassificationDataModule:
    """The template's tokenized splits, built exactly as src/train.py builds them (and cached: one tokenization)."""
    from src.tasks import get_task
    from src.train import prepared_data

    return prepared_data(cfg, get_task(cfg.task.name))


def data_facts(dm: ClassificationDataModule) -> dict[str, Any]:
    """Rows per split, problem type and the cache the rows came from (both sides must name the same one)."""
    info = dm.info
    facts = {"rows": {k: len(v) for k, v in dm.splits.items()}, "problem_type": info["problem_type"]}
    facts["cache"] = str(dm.cache_path)
    return facts | {k: info[k] for k in ("target_mean", "target_std") if k in info}


def speed(fit_s: float, train_rows: int, epochs: float) -> dict[str, float]:
    """Fit wall time and training samples/s counted the same way for both: train rows x epochs / fit seconds."""
    return {"fit_s": fit_s, "epochs": epochs, "samples_per_s": train_rows * epochs / fit_s}


# ------------------------------------------------------------------------------------------------ template side
def fit_timer(out: str) -> L.Callback:
    """A Lightning callback timing trainer.fit (validation and checkpoints included, as in Trainer.train) and
    counting training rows. A factory (Hydra `_target_`), so the parent process never imports Lightning."""
    import lightning as L
    import torch

    class FitTimer(L.Callback):
        def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            self.samples, self.start = 0, time.perf_counter()

        def on_train_batch_end(
            self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, *_
        ) -> None:
            self.samples += len(batch["input_ids"])

        def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            Path(out).write_text(json.dumps({"fit_s": time.perf_counter() - self.start, "samples": self.samples}))

    return FitTimer()


def run_template(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """src/train.py's train() on the composed config, with the fit timer added as one more callback."""
    from src.train import train

    timer = workdir / "template_fit.json"
    extra = ["+callbacks.fit_timer._target_=benchmarks.compare_hf.fit_timer", f"+callbacks.fit_timer.out={timer}"]
    cfg = compose(args, workdir / "template", extra)
    facts = data_facts(data_module(cfg))  # tokenizes now (cached), outside the timed fit
    metrics = train(cfg)
    fit = json.loads(timer.read_text())
    train_rows = facts["rows"]["train"]
    return {
        **facts,
        "monitor": cfg.task.monitor,  # train() resolved `auto`
        "best_val": metrics.get(f"{cfg.task.monitor}_best"),
        "test": {k: v for k, v in sorted(metrics.items()) if k.startswith("test/")},
        **speed(fit["fit_s"], train_rows, fit["samples"] / train_rows),
        "own_samples_per_s": metrics.get("train/samples_per_sec"),
    }


# ------------------------------------------------------------------------------------------------ Trainer side
def logits_scorer(cfg: DictConfig, dm: ClassificationDataModule, backbone_config: dict) -> ClassificationModule:
    """The template's ClassificationModule, fed logits instead of batches: its eval_step and end_epoch (losses,
    torchmetrics objects, multi-label thresholds) score the Trainer's predictions, so both sides share one
    metric code. No target normalisation: the Trainer's model predicts raw targets. No adapters either
    (`model.peft` of a LoRA comparison): a scorer needs no weights of its own."""
    from types import SimpleNamespace

    import torch

    from src.tasks import get_task
    from src.tasks.classification.module import ClassificationModule
    from src.utils.schema import plain

    class LogitsScorer(ClassificationModule):
        def forward(self, batch: dict[str, torch.Tensor]) -> SimpleNamespace:  # what loss_and_logits reads
            return SimpleNamespace(logits=batch["logits"])

        def log_dict(self, scores: dict, **_: Any) -> None:  # end_epoch's output, kept instead of logged
            self.scores = {k: float(v) for k, v in scores.items()}

    model_args = {k: v for k, v in dm.model_args(None).items() if k not in ("target_mean", "target_std")}
    options = get_task(cfg.task.name).options(plain(cfg.task))
    model = {**plain(cfg.model), "peft": None}
    return LogitsScorer(model=model, **model_args, **options, backbone_config=backbone_config)


def score(scorer: ClassificationModule, stage: str, logits: Any, labels: Any) -> dict[str, float]:
    """`stage` (val or test) metrics of one whole split's logits, as the template computes them."""
    import torch

    logits = logits[0] if isinstance(logits, tuple) else logits
    labels = torch.as_tensor(labels)
    batch = {"logits": torch.as_tensor(logits).float(), "labels": labels, "idx": torch.arange(len(labels))}
    with torch.no_grad():
        scorer.eval_step(batch, stage)
    scorer.end_epoch(stage)
    return scorer.scores


def hf_arguments(cfg: DictConfig, monitor: str, output_dir: Path) -> TrainingArguments:
    """TrainingArguments holding the template config's settings (transformers 5 names)."""
    from transformers import TrainingArguments

    from src.training.runtime import resolve_precision, uses_cuda

    opt, sched, data, trainer = cfg.model.optimizer, cfg.model.scheduler, cfg.data, cfg.trainer
    precision = resolve_precision(str(trainer.precision), trainer.accelerator)
    sampling = ("group_by_length" if data.group_by_length else "random") if data.shuffle else "sequential"
    workers = int(data.num_workers or 0)
    return TrainingArguments(
        output_dir=str(output_dir), seed=cfg.seed, report_to="none", disable_tqdm=True, logging_strategy="epoch",
        per_device_train_batch_size=int(data.batch_size),
        per_device_eval_batch_size=int(data.eval_batch_size or data.batch_size),
        gradient_accumulation_steps=int(trainer.accumulate_grad_batches),
        num_train_epochs=trainer.max_epochs if trainer.max_epochs not in (None, -1) else 1,  # max_steps > 0 wins
        max_steps=trainer.max_steps,
        optim="adamw_torch_fused" if opt.fused else "adamw_torch", learning_rate=opt.lr,
        weight_decay=opt.weight_decay, adam_beta1=opt.betas[0], adam_beta2=opt.betas[1], adam_epsilon=opt.eps,
        lr_scheduler_type=sched.name,
        warmup_steps=sched.warmup_steps if sched.warmup_steps is not None else sched.warmup_ratio,  # < 1: a ratio
        max_grad_norm=float(trainer.gradient_clip_val or 0.0),
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
        metric_for_best_model=monitor, greater_is_better=cfg.task.monitor_mode == "max",
        train_sampling_strategy=sampling, dataloader_num_workers=workers, dataloader_persistent_workers=workers > 0,
        use_cpu=not uses_cuda(trainer.accelerator), bf16=precision == "bf16-mixed", fp16=precision == "16-mixed",
        activation_checkpointing=bool(cfg.model.gradient_checkpointing),
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.model.gradient_checkpointing else None,
    )  # fmt: skip


def hf_model(cfg: DictConfig, info: dict) -> PreTrainedModel:
    """The head the template builds (labels, problem type, attention), loaded the plain way."""
    from transformers import AutoModelForSequenceClassification

    names = info["label_names"]
    return AutoModelForSequenceClassification.from_pretrained(
        cfg.model.pretrained, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, problem_type=info["problem_type"],
        revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code,
        attn_implementation=cfg.model.attn_implementation,
    )  # fmt: skip


def run_hf(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """transformers.Trainer on the template's tokenized rows; best epoch by the same metric, tested with the
    template's metric code."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, set_seed

    from src.tasks import get_task

    cfg = compose(args, workdir / "hf_trainer")
    set_seed(cfg.seed)  # before the model: the new head's initialisation is seeded too
    dm = data_module(cfg)
    monitor = get_task(cfg.task.name).monitor(cfg.task.monitor, dm.info)
    columns = [c for c in ("input_ids", "token_type_ids", "labels") if c in dm.splits["train"].column_names]
    splits = {name: split.select_columns(columns) for name, split in dm.splits.items()}
    model = hf_model(cfg, dm.info)
    scorer = logits_scorer(cfg, dm, model.config.to_dict())
    stopping = cfg.callbacks.get("early_stopping")
    trainer = Trainer(
        model=model, args=hf_arguments(cfg, monitor, workdir / "hf_trainer"), processing_class=dm.tokenizer,
        train_dataset=splits["train"], eval_dataset=splits["validation"],
        data_collator=DataCollatorWithPadding(dm.tokenizer, pad_to_multiple_of=cfg.data.pad_to_multiple_of),
        compute_metrics=lambda p: score(scorer, "val", p.predictions, p.label_ids),
        callbacks=[EarlyStoppingCallback(stopping.patience, stopping.get("min_delta", 0.0))] if stopping else [],
    )  # fmt: skip
    start = time.perf_counter()
    out = trainer.train()
    fit_s = time.perf_counter() - start
    trainer.compute_metrics = None  # the test split is scored below, as "test"
    prediction = trainer.predict(splits["test"])
    test = score(scorer, "test", prediction.predictions, prediction.label_ids)
    return {
        **data_facts(dm),
        "monitor": monitor,
        "best_val": trainer.state.best_metric,
        "test": {k: v for k, v in sorted(test.items())},
        **speed(fit_s, len(splits["train"]), float(trainer.state.epoch)),
        "own_samples_per_s": out.metrics.get("train_samples_per_second"),
    }


# ------------------------------------------------------------------------------------------------ report
def fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def comparison_rows(results: dict[str, dict]) -> list[tuple[str, list[float | None], int, str]]:
    """(label, value per side, decimals, how to compare) of the main table; per-label metrics get their own."""
    first, sides = next(iter(results.values())), list(results.values())
    rows = [(f"best {first['monitor']}", [r["best_val"] for r in sides], 4, "diff")]
    rows += [(key, [r["test"].get(key) for r in sides], 4, "diff") for key in first["test"] if key.count("/") == 1]
    return [
        *rows,
        ("fit s (validation + checkpoints included)", [r["fit_s"] for r in sides], 1, "ratio"),
        ("epochs", [r["epochs"] for r in sides], 2, ""),
        ("train samples/s (rows x epochs / fit s)", [r["samples_per_s"] for r in sides], 1, "ratio"),
        ("train samples/s as logged by the side (*)", [r["own_samples_per_s"] for r in sides], 1, ""),
    ]


def table(results: dict[str, dict]) -> str:
    """Markdown: one column per side, then template - hf_trainer (metrics) or template / hf_trainer (speed)."""
    both = len(results) == 2
    header = "| | " + " | ".join(results) + (" | template - hf_trainer |" if both else " |")
    lines = [header, "|---" * (len(results) + 1 + both) + "|"]
    for label, values, digits, compare in comparison_rows(results):
        cells = [fmt(v, digits) for v in values]
        if both:
            a, b = values
            known = compare and a is not None and b is not None
            cells.append("" if not known else f"{a - b:+.4f}" if compare == "diff" else f"x{a / b:.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_label_table(results: dict[str, dict]) -> str:
    """Multi-label: test/<label>/f1 and .../auroc of each side (empty for other problem types)."""
    keys = [k for k in next(iter(results.values()))["test"] if k.count("/") == 2]
    if not keys:
        return ""
    lines = ["| | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(fmt(r["test"].get(k)) for r in results.values()) + " |" for k in keys]
    return "\n".join(lines)


def notes(cfg: DictConfig, results: dict[str, dict]) -> list[str]:
    """What still differs between the two recipes, and how the numbers were taken."""
    facts = next(iter(results.values()))
    out = [
        "Same tokenized rows for both (the template's data module and cache); test metrics of both computed by "
        "the template's ClassificationModule.eval_step/end_epoch (torchmetrics), the Trainer's from its logits.",
        "Model selection: both evaluate every epoch and test the epoch with the best "
        f"{facts['monitor']} ({cfg.task.monitor_mode}); the Trainer computes it with the same metric code.",
        "One seed per side: the new head's initialisation, dropout masks and batch order come from different RNG "
        "streams, so differences of a point or so are within seed noise; rerun with --overrides seed=<n>.",
        "Fit time: trainer.fit (template: 2 sanity validation batches, per-epoch validation, best and last "
        "checkpoints) vs Trainer.train (per-epoch evaluation, checkpoint with optimizer state, reload of the best "
        "at the end). The template runs without loggers, report figures and export (not needed here).",
        "(*) template: train/samples_per_sec of its Throughput callback (last epoch; validation, checkpoint "
        "writes and the run's first 3 steps excluded; absent when an epoch has too few steps); hf_trainer: "
        "train_samples_per_second of Trainer.train (whole run, evaluation and checkpoints included).",
        "Optimizer: both AdamW with weight decay off for biases and LayerNorm weights and a linear warmup of "
        "ceil(ratio x steps) steps; both clip the global gradient norm.",
    ]
    if cfg.data.group_by_length and cfg.data.shuffle:
        out.append(
            "Length grouping: both shuffle, cut mega-batches and sort each by length (template: 50 batches per "
            "mega-batch, numpy RNG; Trainer's LengthGroupedSampler: min(50, rows / (4 x batch)), torch RNG), so the "
            "batches differ. Evaluation: the template sorts rows by length, the Trainer keeps file order "
            "(padding and speed only; metrics do not depend on the order)."
        )
    if facts["problem_type"] == "regression":
        out.append(
            "Targets: the template trains on targets normalised with the train mean/std "
            f"({fmt(facts.get('target_mean'))} / {fmt(facts.get('target_std'))}) and predicts raw scores; the "
            "plain Trainer trains on raw targets (what its recipe does). test/loss is the MSE on normalised "
            "targets for the template and on raw targets for the Trainer: compare test/mse instead."
        )
    if facts["problem_type"] == "multi_label_classification":
        out.append(f"Multi-label threshold for both: task.threshold={cfg.task.threshold}.")
    if cfg.callbacks.get("early_stopping"):
        out.append(
            f"Early stopping for both: patience {cfg.callbacks.early_stopping.patience} evaluations on the monitor "
            "(Trainer: EarlyStoppingCallback)."
        )
    return out


def markdown(args: argparse.Namespace, cfg: DictConfig, results: dict[str, dict]) -> str:
    facts = next(iter(results.values()))
    rows = ", ".join(f"{k} {v}" for k, v in facts["rows"].items())
    setting = ", ".join(f"{k} {v}" for k, v in settings(cfg).items() if k not in ("model", "data"))
    parts = [
        f"# {args.experiment}: template vs transformers.Trainer",
        f"Model `{args.model}`, data `{args.data}` ({facts['problem_type']}; rows: {rows}).\n\nSettings: {setting}.",
        f"Overrides: `{' '.join(overrides(args))}`",
        table(results),
    ]
    if per_label := per_label_table(results):
        parts.append("Per-label test metrics:\n\n" + per_label)
    parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in notes(cfg, results)))
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------------ driver
def run_side(args: argparse.Namespace, side: str, workdir: Path) -> dict[str, Any]:
    """One side in a fresh process (clean memory, independent timing); its output streams to this console."""
    result = workdir / f"{side}.json"
    cmd = [sys.executable, __file__, "--experiment", args.experiment, "--data", args.data, "--model", args.model,
           "--overrides", *args.overrides, "--side", side, "--workdir", str(workdir)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    print(f"\n=== {side} ===", flush=True)
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0 or not result.is_file():
        raise SystemExit(f"compare_hf: the {side} side failed (exit code {proc.returncode}); see its output above.")
    return json.loads(result.read_text())


def local(path: str) -> str:
    """A local path made absolute (the sides may run elsewhere); a hub id unchanged."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True, help="configs/experiment/<name>.yaml")
    parser.add_argument("--data", required=True, help="data.path: a local directory (or hub id)")
    parser.add_argument("--model", required=True, help="model.pretrained: a local model directory (or hub id)")
    parser.add_argument("--out", default=None, help="prefix of <out>.json and <out>.md (default: no files)")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra Hydra overrides for both sides")
    parser.add_argument("--skip-template", action="store_true", help="run the Trainer side only")
    parser.add_argument("--skip-hf", action="store_true", help="run the template side only")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # internal: run one side in this process
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data, args.model = local(args.data), local(args.model)
    return args


def main() -> None:
    args = parse_args()
    if args.side:  # child process
        workdir = Path(args.workdir)
        result = (run_template if args.side == "template" else run_hf)(args, workdir)
        (workdir / f"{args.side}.json").write_text(json.dumps(result, indent=2))
        return

    sides = [s for s, skip in zip(SIDES, (args.skip_template, args.skip_hf), strict=True) if not skip]
    with tempfile.TemporaryDirectory(prefix="compare_hf-") as tmp:
        cfg = compose(args, Path(tmp))
        check_mirrorable(cfg)  # before any training
        results = {side: run_side(args, side, Path(tmp)) for side in sides}
    caches = {r["cache"] for r in results.values()}
    if len(caches) > 1:
        raise SystemExit(f"compare_hf: the sides read different tokenized data: {sorted(caches)}")
    text = markdown(args, cfg, results)
    print("\n" + text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {"experiment": args.experiment, "overrides": overrides(args), "settings": settings(cfg),
                  "results": results, "notes": notes(cfg, results)}  # fmt: skip
        Path(f"{out}.json").write_text(json.dumps(record, indent=2, default=str))
        Path(f"{out}.md").write_text(text)
        print(f"Wrote {out}.json and {out}.md")


if __name__ == "__main__":
    main()
