"""Reference baseline for multiple choice (CommonsenseQA): the plain Hugging Face `Trainer`, as the official example.

The project's own multiple-choice pipeline is written separately; its accuracy means little without the figure the
standard recipe reaches on the same data, model and budget. This script is that recipe, kept close to

  huggingface/transformers examples/pytorch/multiple-choice/run_swag.py   preprocess_function (one (first, second)
      pair per choice, truncation=True, padding=False by default), DataCollatorForMultipleChoice (flatten the choices,
      pad, unflatten to (batch, choices, seq)), AutoModelForMultipleChoice, compute_metrics (argmax accuracy)

adapted to CommonsenseQA as stored locally (parquet: id, question, question_concept, choices[5], choice_labels[A-E],
answerKey, label 0-4): each choice is paired as (question, choice), where run_swag.py pairs (sent1, "sent2 ending").

Reproduce (from the repository root):

    HF_HUB_OFFLINE=1 WANDB_MODE=disabled python benchmarks/hf_reference/run_mc_trainer.py \\
        --data ../shared/data/commonsense_qa --model /work/minilm --out docs/compare/csqa_hf \\
        --epochs 3 --lr 5e-5 --batch-size 16 --max-length 64

Deviations from run_swag.py, all deliberate:
  - --train-samples takes a seeded random subset (shuffle(seed).select(range(N))); run_swag.py takes the first N.
    --eval-samples takes the first N validation examples, as run_swag.py does.
  - --max-length defaults to 64 (run_swag.py: the tokenizer's model_max_length, capped at 1024); with the default
    dynamic padding this only bounds truncation, CommonsenseQA pairs are short.
  - DataCollatorForMultipleChoice is the one transformers 5 ships (same code as run_swag.py's own class).
  - No checkpoint, model card or Hub push; evaluation happens once after training.
  - transformers 5 names: eval_strategy, processing_class (run_swag.py still passes tokenizer=), warmup_steps given
    as a ratio in [0, 1) (warmup_ratio is gone in v5).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from itertools import chain
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from datasets import Dataset, load_dataset
from transformers import (
    AutoModelForMultipleChoice,
    AutoTokenizer,
    DataCollatorForMultipleChoice,
    EvalPrediction,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)


# ------------------------------------------------------------------------------------------------ CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's settings; defaults are run_swag.py's / TrainingArguments' where they have one."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="directory with train.parquet and validation.parquet")
    p.add_argument("--model", required=True, help="local model directory")
    p.add_argument("--out", type=Path, required=True, help="output directory (metrics.json, metrics.md)")
    p.add_argument("--train-samples", type=int, default=None, help="seeded random subset of train examples")
    p.add_argument("--eval-samples", type=int, default=None, help="first N validation examples")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--warmup-ratio", type=float, default=0.0, help="in [0, 1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--pad-to-max-length", action="store_true", help="pad in preprocessing (run_swag.py's flag)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps (smoke tests); -1 = off")
    args = p.parse_args(argv)
    if not 0.0 <= args.warmup_ratio < 1.0:
        p.error("--warmup-ratio must be in [0, 1)")
    return args


# ------------------------------------------------------------------------------------------------ data
def load_splits(data: Path, train_samples: int | None, eval_samples: int | None, seed: int) -> tuple[Dataset, Dataset]:
    """Train and validation examples; the train subset is random (seeded) so the comparison is not order-biased."""
    files = {"train": str(data / "train.parquet"), "validation": str(data / "validation.parquet")}
    raw = load_dataset("parquet", data_files=files)
    train, val = raw["train"], raw["validation"]
    if train_samples is not None:
        train = train.shuffle(seed=seed).select(range(min(train_samples, len(train))))
    if eval_samples is not None:
        val = val.select(range(min(eval_samples, len(val))))
    return train, val


def preprocess_function(examples: dict[str, list], tok: PreTrainedTokenizerBase, max_len: int, pad: bool) -> dict:
    """run_swag.py's preprocess_function with (question, choice) for (context, header + ending)."""
    n_choices = len(examples["choices"][0])
    for choices, labels, key, label in zip(
        examples["choices"], examples["choice_labels"], examples["answerKey"], examples["label"], strict=True
    ):
        assert len(choices) == n_choices and labels[label] == key, "label must index the answerKey's choice"
    first = list(chain(*[[q] * n_choices for q in examples["question"]]))
    second = list(chain(*examples["choices"]))
    enc = tok(first, second, truncation=True, max_length=max_len, padding="max_length" if pad else False)
    return {k: [v[i : i + n_choices] for i in range(0, len(v), n_choices)] for k, v in enc.items()}


def compute_metrics(eval_predictions: EvalPrediction) -> dict[str, float]:
    """run_swag.py's metric: accuracy of the argmax over the choices."""
    predictions, label_ids = eval_predictions
    preds = np.argmax(predictions, axis=1)
    return {"accuracy": (preds == label_ids).astype(np.float32).mean().item()}


# ------------------------------------------------------------------------------------------------ training
def training_arguments(args: argparse.Namespace) -> TrainingArguments:
    """The shared recipe: linear schedule, AdamW (torch), clip 1.0, no saving, a single evaluation at the end."""
    return TrainingArguments(
        output_dir=str(args.out),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps in transformers 5
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        optim="adamw_torch",
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_steps=50,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        seed=args.seed,
        data_seed=args.seed,
    )


def write_outputs(out: Path, result: dict[str, Any]) -> None:
    """metrics.json (everything) and a short metrics.md for a human."""
    (out / "metrics.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    ev, tr = result["eval"], result["train"]
    lines = [
        "# CommonsenseQA, Hugging Face Trainer reference (run_swag.py recipe)",
        "",
        f"Model `{result['args']['model']}`, {tr['train_examples']} train examples, {ev['eval_examples']} "
        "validation questions, 5 choices each. Accuracy is a fraction (0..1).",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {ev['eval_accuracy']:.4f} |",
        f"| eval loss | {ev['eval_loss']:.4f} |",
        f"| train seconds | {tr['train_seconds']:.1f} |",
        f"| train examples/s | {tr['train_examples_per_second']:.2f} |",
        f"| eval seconds | {ev['eval_seconds']:.1f} |",
        "",
        f"Command: `{result['command']}`",
    ]
    (out / "metrics.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train on the (subset of) train examples, evaluate once on validation, write and print the metrics."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)  # before the model: the new classifier head's init depends on it, as in run_swag.py
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForMultipleChoice.from_pretrained(args.model)
    train, val = load_splits(args.data, args.train_samples, args.eval_samples, args.seed)
    kw = {"tok": tok, "max_len": min(args.max_length, tok.model_max_length), "pad": args.pad_to_max_length}
    train_f = train.map(preprocess_function, batched=True, fn_kwargs=kw)
    val_f = val.map(preprocess_function, batched=True, fn_kwargs=kw)
    collator = default_data_collator if args.pad_to_max_length else DataCollatorForMultipleChoice(tok)
    trainer = Trainer(
        model=model,
        args=training_arguments(args),
        train_dataset=train_f,
        processing_class=tok,
        data_collator=collator,
        compute_metrics=compute_metrics,
    )
    t0 = time.perf_counter()
    train_out = trainer.train()
    train_seconds = time.perf_counter() - t0
    epochs_done = trainer.state.epoch or 0.0
    train = {
        "train_seconds": train_seconds,
        "train_examples": len(train),
        "train_examples_per_second": len(train) * epochs_done / train_seconds,
        "epochs_done": epochs_done,
        "global_step": trainer.state.global_step,
        "train_loss": train_out.training_loss,
    }
    t0 = time.perf_counter()
    ev = trainer.evaluate(val_f)
    ev.update(eval_seconds=time.perf_counter() - t0, eval_examples=len(val_f))
    result = {"task": "commonsense_qa", "eval": ev, "train": train}
    result.update(args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})
    result["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    result["scores_are"] = "fractions in 0..1"
    write_outputs(args.out, result)
    print(json.dumps({**ev, **train}))
    return result


if __name__ == "__main__":
    main()
