"""Training throughput of this template against the Hugging Face Trainer, same model, data and settings.

Variants (each in its own process; every ratio is to `hf_trainer` at the same batch size, measured in the
same run):

  template              src/train.py's train() with its defaults (length grouping, dynamic padding, no
                        mask on unpadded batches, fused AdamW, divergence guard); no checkpoints or validation
  template_compile      + model.compile=layers (each transformer block compiled, dynamic shapes)
  template_foreach      AdamW foreach instead of fused (the fused-vs-foreach ablation)
  template_no_grouping  data.group_by_length=false
  hf_trainer            transformers.Trainer as a careful user configures it: DataCollatorWithPadding,
                        train_sampling_strategy="group_by_length", its default (fused) AdamW. The baseline.
  hf_trainer_compile    + torch_compile=True
  hf_pad512             the tutorial recipe: pad every text to max_length

What is measured, the same way on both sides: the steady state. The first `--warmup-steps` steps (CUDA
context, allocator, torch.compile) are timed apart ("warm-up s"); the clock then runs from the start of the
first counted step to the end of training, read after torch.cuda.synchronize() on a GPU. Real and computed
(B x T) tokens come from one forward pre-hook on the model; MFU from src/training/flops.py (model FLOPs of
the computed tokens, 3x the forward's / time / device peak). The peak: --peak-tflops, else the GPU table, else
on CPU the attainable matmul FLOP/s benchmarks/bench_mfu.py measured on this machine (--mfu-json).

    python benchmarks/bench_train.py --data ../shared/data/imdb --model <minilm dir> --samples 4096 \\
        --max-length 256 --variants template,template_compile,hf_trainer --out docs/bench_cpu
    python benchmarks/bench_train.py --data <imdb> --model <bert-base dir> --samples 8192 --device cuda \\
        --precision bf16 --variants template,template_compile,template_foreach,hf_trainer,hf_trainer_compile \\
        --batch-sizes 32,64 --out docs/bench_gpu
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "hf_trainer"
HP = {"lr": 5e-5, "weight_decay": 0.01, "warmup_ratio": 0.1, "clip": 1.0, "epochs": 1}
TEMPLATE = {
    "template": [],
    "template_compile": ["model.compile=layers"],
    "template_foreach": ["model.optimizer.fused=false", "model.optimizer.foreach=true"],
    "template_no_grouping": ["data.group_by_length=false"],
}
HF = {"hf_trainer": {}, "hf_trainer_compile": {"torch_compile": True}, "hf_pad512": {"pad": True}}


# ------------------------------------------------------------------------------------------------ measuring
class Clock:
    """Counts training forwards (a forward pre-hook) and times the steady state after `warmup` steps."""

    def __init__(self, model: Any, warmup: int, device: str) -> None:
        from src.training.flops import StepFlops

        self.warmup, self.device, self.flops_of = warmup, device, StepFlops(model)
        self.steps = self.samples = self.computed = 0
        self.flops, self.real = 0.0, None
        self.fit_start = self.start = self.end = None
        model.register_forward_pre_hook(self, with_kwargs=True)

    def now(self) -> float:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def step_begins(self, step: int) -> None:
        """At every optimizer step's start; the first counted step starts the clock."""
        if self.fit_start is None:
            self.fit_start = self.now()
        if step == self.warmup and self.start is None:
            self.start = self.now()

    def __call__(self, module: Any, args: tuple, kwargs: dict) -> None:
        if not module.training or self.start is None:
            return
        ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
        real = mask.sum() if mask is not None else ids.numel()
        self.real = real if self.real is None else self.real + real  # on the device: no sync per step
        self.steps += 1
        self.samples += ids.shape[0]
        self.computed += ids.numel()
        self.flops += self.flops_of(*ids.shape)

    def result(self, peak: float | None) -> dict:
        import torch

        seconds = self.end - self.start
        real = float(self.real) if self.real is not None else 0.0
        return {
            "samples_per_s": self.samples / seconds,
            "tokens_per_s": real / seconds,
            "padding_efficiency": real / max(self.computed, 1),
            "step_ms": 1000 * seconds / max(self.steps, 1),
            "mfu": self.flops / seconds / peak if peak else None,
            "warmup_s": self.start - self.fit_start,
            "timed_s": seconds,
            "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30
            if self.device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        }


def device_peak(args: argparse.Namespace) -> float | None:
    """Peak FLOP/s: --peak-tflops, else the device table (CUDA), else bench_mfu.py's measured CPU peak."""
    if args.peak_tflops:
        return args.peak_tflops * 1e12
    if args.device != "cuda":
        from benchmarks.bench_mfu import measured_peak

        peak = measured_peak(args.mfu_json, "bf16" if args.precision == "bf16" else "fp32")
        return peak * 1e12 if peak else None
    import torch

    from src.training.flops import device_peak_tflops

    peak = device_peak_tflops(torch.cuda.get_device_name(), "bf16" if args.precision == "bf16" else "tf32")
    return peak * 1e12 if peak else None


# ------------------------------------------------------------------------------------------------ variants
CLOCKS: dict[str, Clock] = {}  # the template side's clock, made by TemplateTimer inside train()


def template_timer(warmup: int, device: str) -> Any:
    """A Lightning callback driving a Clock (built by Hydra from `+callbacks.timer._target_`)."""
    import lightning as L

    class TemplateTimer(L.Callback):
        def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            CLOCKS["template"] = Clock(module.model, warmup, device)

        def on_train_batch_start(self, trainer: L.Trainer, *_: Any) -> None:
            CLOCKS["template"].step_begins(trainer.global_step)

        def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            CLOCKS["template"].end = CLOCKS["template"].now()

    return TemplateTimer()


def run_template(args: argparse.Namespace, data_dir: Path, variant: str, batch_size: int) -> dict:
    from src.cli import compose_config  # the composition the CLI does
    from src.train import train

    overrides = [
        "model=bert", f"model.pretrained={args.model}", f"data.path={data_dir}", "logger=none", "test=false",
        "export=false", f"seed={args.seed}", f"data.max_length={args.max_length}", f"data.batch_size={batch_size}",
        f"data.num_workers={args.workers}", f"model.optimizer.lr={HP['lr']}",
        f"model.optimizer.weight_decay={HP['weight_decay']}", f"model.scheduler.warmup_ratio={HP['warmup_ratio']}",
        f"trainer.gradient_clip_val={HP['clip']}", f"trainer.max_epochs={HP['epochs']}", "+trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0", "+trainer.enable_model_summary=false", "callbacks.model_checkpoint=null",
        "callbacks.last_checkpoint=null", "callbacks.early_stopping=null", "callbacks.reports=null",
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
        f"precision={'bf16-mixed' if args.precision == 'bf16' else '32-true'}", *TEMPLATE[variant],
        "+callbacks.timer._target_=benchmarks.bench_train.template_timer",
        f"+callbacks.timer.warmup={args.warmup_steps}", f"+callbacks.timer.device={args.device}",
    ]  # fmt: skip
    cfg = compose_config(overrides, output_dir=Path(tempfile.mkdtemp()))
    cfg.paths.cache_dir = tempfile.mkdtemp()
    train(cfg)
    from benchmarks import bench_train  # the module Hydra imported the timer from (this file runs as __main__)

    return bench_train.CLOCKS["template"].result(device_peak(args))


def run_hf(args: argparse.Namespace, data_dir: Path, variant: str, batch_size: int) -> dict:
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

    options = HF[variant]
    data = load_dataset("parquet", data_files={"train": str(data_dir / "train.parquet")})["train"]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    padding = {"padding": "max_length"} if options.get("pad") else {}
    data = data.map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length, **padding), batched=True
    )
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2)
    clock = Clock(model, args.warmup_steps, args.device)

    class Timer(TrainerCallback):
        def on_step_begin(self, arguments: Any, state: Any, control: Any, **_: Any) -> None:
            clock.step_begins(state.global_step)

        def on_train_end(self, *_: Any, **__: Any) -> None:
            clock.end = clock.now()

    training_args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch_size, learning_rate=HP["lr"],
        weight_decay=HP["weight_decay"], warmup_steps=HP["warmup_ratio"], max_grad_norm=HP["clip"],
        num_train_epochs=HP["epochs"], lr_scheduler_type="linear", seed=args.seed, eval_strategy="no",
        save_strategy="no", report_to=[], disable_tqdm=True, logging_strategy="no",
        train_sampling_strategy="random" if options.get("pad") else "group_by_length",
        dataloader_num_workers=args.workers, use_cpu=args.device == "cpu", bf16=args.precision == "bf16",
        torch_compile=bool(options.get("torch_compile")),
    )  # fmt: skip
    collator = None if options.get("pad") else DataCollatorWithPadding(tokenizer)
    Trainer(model=model, args=training_args, train_dataset=data, data_collator=collator, callbacks=[Timer()]).train()
    return clock.result(device_peak(args))


# ------------------------------------------------------------------------------------------------ driver
def make_subset(imdb_dir: Path, samples: int, seed: int, out: Path) -> Path:
    """The same `samples` reviews for every variant (plus a few rows so no split is carved)."""
    import pandas as pd

    train = pd.read_parquet(imdb_dir / "train.parquet").sample(frac=1.0, random_state=seed)
    out.mkdir(parents=True, exist_ok=True)
    train.iloc[:samples].to_parquet(out / "train.parquet", index=False)
    for split in ("validation", "test"):
        train.iloc[samples : samples + 32].to_parquet(out / f"{split}.parquet", index=False)
    return out


COLUMNS = [
    ("samples_per_s", "samples/s"), ("tokens_per_s", "tokens/s"), ("padding_efficiency", "padding eff."),
    ("step_ms", "ms/step"), ("mfu", "MFU"), ("warmup_s", "warm-up s"), ("peak_memory_gb", "peak mem GB"),
    ("load", "load avg"),
]  # fmt: skip


def table(results: dict[str, dict]) -> str:
    """Markdown table; each cell with its ratio to hf_trainer at the same batch size."""
    lines = ["| variant | batch | " + " | ".join(n for _, n in COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for key, r in results.items():
        variant, batch = key.rsplit("@", 1)
        base = results.get(f"{BASELINE}@{batch}")
        cells = []
        for column, _ in COLUMNS:
            value = r.get(column)
            if isinstance(value, str):  # the load average: no ratio
                cells.append(value)
                continue
            ratio = f" ({value / base[column]:.2f}x)" if base and value and base.get(column) else ""
            cells.append("n/a" if value is None else (f"{value:.1%}" if column == "mfu" else f"{value:.3g}") + ratio)
        lines.append(f"| {variant} | {batch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_child(args: argparse.Namespace, subset: Path, variant: str, batch: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        *sys.argv[1:],
        "--variant",
        variant,
        "--subset",
        str(subset),
        "--batch",
        str(batch),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONPATH": str(ROOT)}
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{variant}@{batch} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    # the machine's 1-minute load average before and after the variant: other work slows what is measured
    return {**json.loads(line[len("RESULT ") :]), "load": f"{load:.1f}-{os.getloadavg()[0]:.1f}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="IMDB directory with train.parquet (text, label)")
    parser.add_argument("--model", required=True, help="local model directory (or hub id when online)")
    parser.add_argument("--samples", type=int, default=4096, help="training reviews (the same for every variant)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-sizes", default="16", help="comma-separated: every variant runs at each")
    parser.add_argument("--variants", default="template,hf_trainer", help=f"of {', '.join([*TEMPLATE, *HF])}")
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps timed apart (CUDA start-up, compile)")
    parser.add_argument("--workers", type=int, default=2, help="dataloader workers, all variants")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["32", "bf16"], default="32")
    parser.add_argument("--peak-tflops", type=float, help="device peak for MFU (default: the table for GPUs)")
    parser.add_argument(
        "--mfu-json",
        default=str(ROOT / "docs" / "bench_mfu.json"),
        help="CPU: the attainable peak benchmarks/bench_mfu.py measured (its fp32 or bf16 figure)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench"), help="prefix of the .json/.md outputs")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--subset", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))

    if args.variant:  # child process
        run = run_template if args.variant in TEMPLATE else run_hf
        print("RESULT " + json.dumps(run(args, Path(args.subset), args.variant, args.batch)))
        return

    subset = make_subset(Path(args.data), args.samples, args.seed, Path(tempfile.mkdtemp()) / "imdb-subset")
    precision = "bf16" if args.precision == "bf16" else "fp32"
    peak = device_peak(args)
    setting = (f"{Path(args.model).name}, {args.samples} IMDB reviews, max_length {args.max_length}, {args.device}, "
               f"{precision}, {args.warmup_steps} warm-up steps timed apart; MFU against "
               f"{f'{peak / 1e12:.3f} TFLOP/s' if peak else 'no peak (n/a)'}")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {}
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        for variant in args.variants.split(","):
            results[f"{variant}@{batch}"] = run_child(args, subset, variant, batch)
            print(f"{variant}@{batch}: {results[f'{variant}@{batch}']}", flush=True)
            markdown = f"Setting: {setting}; ratios are to `{BASELINE}` at the same batch size.\n\n{table(results)}\n"
            out.with_suffix(".json").write_text(json.dumps({"setting": setting, "results": results}, indent=2))
            out.with_suffix(".md").write_text(markdown)  # after every variant: an interrupted run keeps its rows
    print(markdown)


if __name__ == "__main__":
    main()
