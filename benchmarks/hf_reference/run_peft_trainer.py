"""Reference for LoRA fine-tuning: the plain Hugging Face `Trainer` + `peft`, as peft's sequence-classification
recipe writes it, with the settings and tokenized rows of a template run of `model/peft=lora`.

The template's LoRA figures (accuracy, samples/s) mean little without what the standard recipe reaches on the same
data, model and budget. This script is that recipe:

  model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(...),
                         LoraConfig(task_type=TaskType.SEQ_CLS, r, lora_alpha, lora_dropout, target_modules,
                                    modules_to_save=<the head>))
  Trainer(model, TrainingArguments(...), DataCollatorWithPadding(tokenizer), ...).train()

Everything it shares with `python src/train.py experiment=<name> model/peft=lora <overrides>` comes from that one
composed config, through benchmarks/compare_hf.py's helpers: the tokenized rows (the template's data module and
cache: sentence pairs tokenized as one pair, `longest_first`), lr, weight decay, betas, eps, warmup, schedule,
gradient clipping, batch size, epochs, seed, length-grouped batches, best epoch by the same validation metric, and
the test metrics computed by the template's own metric code. The LoRA settings (r, alpha, dropout, targets: the
template's defaults for the model_type when `model.peft.target_modules` is null) and the head trained whole
(`modules_to_save`: the same modules the template trains whole, found by src/models/peft.py) are the template's.

    HF_HUB_OFFLINE=1 python benchmarks/hf_reference/run_peft_trainer.py --experiment sick_entailment_minilm \\
        --data ../shared/data/sick --model <minilm dir> --out docs/compare/sick_entailment_lora_hf \\
        --overrides model.optimizer.lr=1e-3

Samples/s are counted close to how the template's Throughput callback counts them: per epoch, from the end of the
run's third optimizer step (first epoch) or of the epoch's first step, to the end of its last step: evaluation and
checkpoints are left out (the Trainer evaluates and saves after an epoch's last step), data loading stays in. The
last epoch's figure is reported, as the template's run summary does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` and `benchmarks` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from transformers import TrainerCallback  # noqa: E402  (after the environment: transformers reads it at import)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="sick_entailment_minilm", help="a classification experiment config")
    p.add_argument("--data", required=True, help="data.path of the experiment")
    p.add_argument("--model", required=True, help="model.pretrained: a local model directory")
    p.add_argument("--out", type=Path, required=True, help="writes <out>.json and <out>.md")
    p.add_argument("--overrides", nargs="*", default=[], help="more Hydra overrides (e.g. model.optimizer.lr=1e-3)")
    args = p.parse_args(argv)
    args.overrides = ["model/peft=lora", *args.overrides]  # compare_hf.compose reads args.overrides
    return args


class StepClock(TrainerCallback):
    """Training samples/s per epoch, counted as src/training/throughput.py counts them (see the module docstring)."""

    def __init__(self, batch_size: int, warmup_steps: int = 3) -> None:
        self.batch_size, self.warmup_steps = batch_size, warmup_steps
        self.epochs: list[dict[str, float]] = []

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.start, self.steps = None, 0

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self.start is None:
            if state.global_step >= self.warmup_steps:
                self.start = time.perf_counter()
            return
        self.steps += 1
        self.end = time.perf_counter()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self.start is not None and self.steps:
            seconds = self.end - self.start
            self.epochs.append({"steps": self.steps, "seconds": seconds, "samples_per_s": self.steps * self.batch_size
                                / seconds})  # fmt: skip


def lora_model(cfg: Any, info: dict) -> Any:
    """peft's recipe on the template's head: task_type SEQ_CLS, the template's targets, its head in modules_to_save."""
    from peft import LoraConfig, TaskType, get_peft_model

    from benchmarks.compare_hf import hf_model
    from src.models.backbone import head_parameters
    from src.models.peft import lora_settings, target_modules
    from src.utils.schema import plain

    model = hf_model(cfg, info)
    settings = lora_settings(plain(cfg.model.peft))
    head = sorted({name.rsplit(".", 1)[0] for name in head_parameters(model)})
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=target_modules(model, settings.target_modules), modules_to_save=head,
    )  # fmt: skip
    return get_peft_model(model, config)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Trainer + peft on the template's tokenized rows; best epoch by the template's metric, tested with its code."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, set_seed

    from benchmarks.compare_hf import compose, data_facts, data_module, hf_arguments, logits_scorer, score, speed
    from src.tasks import get_task

    cfg = compose(args, workdir)
    set_seed(cfg.seed)  # before the model: the new head and the adapters are initialised from it
    dm = data_module(cfg)
    monitor = get_task(cfg.task.name).monitor(cfg.task.monitor, dm.info)
    columns = [c for c in ("input_ids", "token_type_ids", "labels") if c in dm.splits["train"].column_names]
    splits = {name: split.select_columns(columns) for name, split in dm.splits.items()}
    model = lora_model(cfg, dm.info)
    scorer = logits_scorer(cfg, dm, model.config.to_dict())
    clock = StepClock(int(cfg.data.batch_size))
    stopping = cfg.callbacks.get("early_stopping")
    callbacks = [
        clock,
        *([EarlyStoppingCallback(stopping.patience, stopping.get("min_delta", 0.0))] if stopping else []),
    ]
    trainer = Trainer(
        model=model, args=hf_arguments(cfg, monitor, workdir), processing_class=dm.tokenizer,
        train_dataset=splits["train"], eval_dataset=splits["validation"],
        data_collator=DataCollatorWithPadding(dm.tokenizer, pad_to_multiple_of=cfg.data.pad_to_multiple_of),
        compute_metrics=lambda p: score(scorer, "val", p.predictions, p.label_ids), callbacks=callbacks,
    )  # fmt: skip
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    start = time.perf_counter()
    out = trainer.train()
    fit_s = time.perf_counter() - start
    trainer.compute_metrics = None  # the test split is scored below, as "test"
    prediction = trainer.predict(splits["test"])
    test = score(scorer, "test", prediction.predictions, prediction.label_ids)
    return {
        **data_facts(dm), "monitor": monitor, "best_val": trainer.state.best_metric, "test": dict(sorted(test.items())),
        **speed(fit_s, len(splits["train"]), float(trainer.state.epoch)), "epochs_clock": clock.epochs,
        "samples_per_s_last_epoch": clock.epochs[-1]["samples_per_s"] if clock.epochs else None,
        "trainer_samples_per_s": out.metrics.get("train_samples_per_second"), "trainable_parameters": trainable,
        "peft": {k: v for k, v in model.peft_config["default"].to_dict().items() if k in (
            "r", "lora_alpha", "lora_dropout", "target_modules", "modules_to_save", "task_type")},
    }  # fmt: skip


def markdown(args: argparse.Namespace, result: dict[str, Any]) -> str:
    """A short report: settings, test metrics, speed (a run too short to time shows "–")."""
    from benchmarks.compare_hf import fmt

    rows = [f"| best {result['monitor']} | {fmt(result['best_val'])} |"]
    rows += [f"| {k} | {v:.4f} |" for k, v in result["test"].items() if k.count("/") == 1]
    per_epoch = ", ".join(f"{e['samples_per_s']:.2f}" for e in result["epochs_clock"])
    rows += [
        f"| train samples/s, last epoch (evaluation excluded) | {fmt(result['samples_per_s_last_epoch'], 2)} |",
        f"| train samples/s per epoch | {per_epoch} |",
        f"| fit s (evaluation and checkpoints included) | {result['fit_s']:.1f} |",
        f"| trainable parameters | {result['trainable_parameters']:,} |",
    ]
    return "\n".join([
        f"# {args.experiment}: transformers.Trainer + peft LoRA (reference)", "",
        f"Model `{args.model}`, data `{args.data}`; rows {result['rows']}.", "",
        f"Overrides: `{' '.join(args.overrides)}`.", "",
        f"peft: `{json.dumps(result['peft'], default=str)}`", "", "| | value |", "|---|---|", *rows, "",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`", "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import tempfile

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="peft_trainer_") as workdir:  # Trainer's checkpoints: not kept
        result = run(args, Path(workdir))
    result["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(args, result))
    print(json.dumps({k: result[k] for k in ("best_val", "test", "samples_per_s_last_epoch", "fit_s")}, default=str))
    return result


if __name__ == "__main__":
    main()
