"""Training throughput of this template against a plain Hugging Face Trainer and the pad-to-512 recipe.

Same model, same reviews, same hyperparameters (AdamW lr 5e-5, weight decay 0.01, linear schedule with
10% warmup, gradient clipping 1.0, batch 16, max_length 512, one epoch, seed 42, no validation):

  template    src/train.py's train(): cached tokenization, length-grouped batches, dynamic padding
  hf_trainer  transformers.Trainer configured as a careful user would: DataCollatorWithPadding (dynamic
              padding), train_sampling_strategy="group_by_length", its default fused AdamW. The baseline:
              every ratio is relative to it.
  hf_pad512   the common tutorial recipe: tokenizer(padding="max_length", max_length=512) + Trainer

Each variant runs in its own process (clean peak-memory numbers). Real and computed (B x T) tokens are
counted by the same forward pre-hook on the model in every variant; epoch time is the training epoch
(data loading included, tokenization and model loading excluded: see data_prep_s).

    python benchmarks/bench_train.py --data ../shared/data/imdb --model /models/all-MiniLM-L6-v2 --samples 256
    python benchmarks/bench_train.py ... --device cuda --precision bf16 --compile --samples 4096   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("template", "hf_trainer", "hf_pad512")
ABLATIONS = ("template_no_grouping", "template_workers0", "template_fused_adamw")
BASELINE = "hf_trainer"
HP = {"lr": 5e-5, "weight_decay": 0.01, "warmup_ratio": 0.1, "clip": 1.0, "batch_size": 16, "epochs": 1}


# ------------------------------------------------------------------------------------------------ measuring
class TokenCounter:
    """Forward pre-hook counting real (mask) and computed (B x T) tokens of training forwards."""

    def __init__(self, model: object) -> None:
        self.real, self.computed, self.samples = None, 0, 0
        model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module: object, args: tuple, kwargs: dict) -> None:
        if module.training and kwargs.get("attention_mask") is not None:
            mask = kwargs["attention_mask"]
            self.real = mask.sum() if self.real is None else self.real + mask.sum()  # on device: no sync per step
            self.computed += mask.numel()
            self.samples += mask.shape[0]

    def totals(self, seconds: float) -> dict:
        return {"seconds": seconds, "real": int(self.real.item()), "computed": self.computed, "samples": self.samples}


def report(epoch: dict, prep_seconds: float, device: str) -> dict:
    import torch

    seconds = epoch["seconds"]
    return {
        "samples_per_s": epoch["samples"] / seconds,
        "tokens_per_s": epoch["real"] / seconds,
        "padding_efficiency": epoch["real"] / epoch["computed"],
        "epoch_s": seconds,
        "data_prep_s": prep_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
    }


class EpochTimer(L.Callback):
    """Added to the template's callbacks (`+callbacks.timer._target_=...`): times the epoch, counts tokens."""

    def __init__(self, out: str) -> None:
        self.out = out

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.counter = TokenCounter(module.model)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        Path(self.out).write_text(json.dumps(self.counter.totals(time.perf_counter() - self.start)))


# ------------------------------------------------------------------------------------------------ variants
def run_template(args: argparse.Namespace, data_dir: Path, variant: str) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    from src.tasks import get_task
    from src.train import train
    from src.utils.config import compose_config  # the composition the CLI does

    timer_out = tempfile.mktemp(suffix=".json")
    overrides = [
        "model=bert", f"model.pretrained={args.model}", f"data.path={data_dir}", "logger=none", "callbacks=none",
        "+callbacks.timer._target_=benchmarks.bench_train.EpochTimer", f"+callbacks.timer.out={timer_out}",
        "test=false", "export=false", f"seed={args.seed}", f"data.max_length={args.max_length}",
        f"data.batch_size={HP['batch_size']}", f"data.num_workers={args.workers}", f"model.optimizer.lr={HP['lr']}",
        f"model.optimizer.weight_decay={HP['weight_decay']}", f"model.scheduler.warmup_ratio={HP['warmup_ratio']}",
        f"trainer.gradient_clip_val={HP['clip']}", f"trainer.max_epochs={HP['epochs']}", "+trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0", "+trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false",
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
    ]  # fmt: skip
    if args.precision == "bf16":
        overrides.append("precision=bf16-mixed")
    if args.compile:
        overrides += ["model.compile=true", "data.pad_to_multiple_of=64"]
    overrides += {
        "template_no_grouping": ["data.group_by_length=false"],
        "template_workers0": ["data.num_workers=0"],
        "template_fused_adamw": ["model.optimizer.fused=true"],
    }.get(variant, [])
    cfg = compose_config(overrides, output_dir=Path(tempfile.mkdtemp()))
    cfg.paths.cache_dir = tempfile.mkdtemp()  # cold cache: tokenization is measured, once, here
    start = time.perf_counter()
    get_task("sentiment")[0](
        cfg.data, tokenizer=args.model, cache_dir=cfg.paths.cache_dir, seed=args.seed
    ).prepare_data()
    prep = time.perf_counter() - start

    train(cfg)
    return report(json.loads(Path(timer_out).read_text()), prep, args.device)


def run_hf(args: argparse.Namespace, data_dir: Path, pad_to_max: bool) -> dict:
    """The Hugging Face way, written as its docs and tutorials show it."""
    from datasets import load_dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    start = time.perf_counter()
    data = load_dataset("parquet", data_files={"train": str(data_dir / "train.parquet")})["train"]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    padding = {"padding": "max_length"} if pad_to_max else {}
    data = data.map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length, **padding), batched=True
    )
    prep = time.perf_counter() - start

    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2)
    counter = TokenCounter(model)
    timer: dict = {}

    class Timer(TrainerCallback):
        def on_epoch_begin(self, *_, **__):
            timer["start"] = time.perf_counter()

        def on_epoch_end(self, *_, **__):
            timer.update(counter.totals(time.perf_counter() - timer["start"]))

    training_args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=HP["batch_size"], learning_rate=HP["lr"],
        weight_decay=HP["weight_decay"], warmup_steps=HP["warmup_ratio"], max_grad_norm=HP["clip"],
        num_train_epochs=HP["epochs"], lr_scheduler_type="linear", seed=args.seed, eval_strategy="no",
        save_strategy="no", report_to=[], disable_tqdm=True, logging_strategy="no",
        train_sampling_strategy="random" if pad_to_max else "group_by_length", dataloader_num_workers=args.workers,
        use_cpu=args.device == "cpu", bf16=args.precision == "bf16", torch_compile=args.compile,
    )  # fmt: skip
    collator = (
        None if pad_to_max else DataCollatorWithPadding(tokenizer, pad_to_multiple_of=64 if args.compile else None)
    )
    Trainer(model=model, args=training_args, train_dataset=data, data_collator=collator, callbacks=[Timer()]).train()
    return report(timer, prep, args.device)


# ------------------------------------------------------------------------------------------------ driver
def make_subset(imdb_dir: Path, samples: int, seed: int, out: Path) -> Path:
    """The same `samples` balanced reviews for every variant (plus a few rows so no split is carved)."""
    import pandas as pd

    train = pd.read_parquet(imdb_dir / "train.parquet").sample(frac=1.0, random_state=seed)
    out.mkdir(parents=True, exist_ok=True)
    train.iloc[:samples].to_parquet(out / "train.parquet", index=False)
    for split in ("validation", "test"):
        train.iloc[samples : samples + 32].to_parquet(out / f"{split}.parquet", index=False)
    return out


def table(results: dict[str, dict]) -> str:
    base = results[BASELINE]
    cols = [("samples_per_s", "samples/s"), ("tokens_per_s", "tokens/s"), ("padding_efficiency", "padding eff."),
            ("epoch_s", "epoch s"), ("peak_rss_mb", "peak RSS MB"), ("peak_gpu_mb", "peak GPU MB"),
            ("data_prep_s", "tokenize s")]  # fmt: skip
    cols = [(k, n) for k, n in cols if base.get(k) is not None]
    lines = ["| variant | " + " | ".join(n for _, n in cols) + " |", "|---|" + "---|" * len(cols)]
    for name, r in results.items():
        cells = [f"{r[k]:.3g} ({r[k] / base[k]:.2f}x)" for k, _ in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, label) in zip(axes, [("samples_per_s", "samples / s (higher is better)"),
                                       ("padding_efficiency", "real / computed tokens"),
                                       ("epoch_s", "seconds per epoch (lower is better)")], strict=True):  # fmt: skip
        values = [results[n][key] for n in names]
        bars = ax.bar(names, values, color=["#2b6cb0" if n.startswith("template") else "#a0aec0" for n in names])
        ax.bar_label(bars, labels=[f"{v:.3g}\n{v / results[BASELINE][key]:.2f}x" for v in values], fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", rotation=20, labelsize=8)
        ax.margins(y=0.25)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="IMDB directory with train.parquet (text, label)")
    parser.add_argument("--model", required=True, help="local model directory (or hub id when online)")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2, help="dataloader workers, all variants")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["32", "bf16"], default="32")
    parser.add_argument("--compile", action="store_true", help="torch.compile (with padding to multiples of 64)")
    parser.add_argument("--ablations", action="store_true", help=f"also run {', '.join(ABLATIONS)}")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmark"), help="prefix of the .json/.md/.png outputs")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--subset", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:  # child process
        subset = Path(args.subset)
        if args.variant.startswith("template"):
            result = run_template(args, subset, args.variant)
        else:
            result = run_hf(args, subset, pad_to_max=args.variant == "hf_pad512")
        print("RESULT " + json.dumps(result))
        return

    subset = make_subset(Path(args.data), args.samples, args.seed, Path(tempfile.mkdtemp()) / "imdb-subset")
    results = {}
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONPATH": str(ROOT)}
    for variant in VARIANTS + (ABLATIONS if args.ablations else ()):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--variant", variant, "--subset", str(subset)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{variant} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        results[variant] = json.loads(line[len("RESULT ") :])
        print(f"{variant}: {results[variant]}", flush=True)
    precision = "fp32" if args.precision == "32" else args.precision
    setting = (f"{Path(args.model).name}, {args.samples} IMDB reviews, max_length {args.max_length}, batch "
               f"{HP['batch_size']}, {args.device}, {precision}{', compile' if args.compile else ''}")  # fmt: skip
    markdown = f"Setting: {setting}; ratios are to `{BASELINE}`.\n\n{table(results)}\n"
    print(markdown)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"setting": setting, "results": results}, indent=2))
    out.with_suffix(".md").write_text(markdown)
    plot(results, out.with_suffix(".png"), setting)


if __name__ == "__main__":
    main()
