"""Reference baseline for extractive QA: the plain Hugging Face `Trainer`, pre/post-processing as the official example.

The project's own QA pipeline is written separately; its scores mean little without the figure the standard recipe
reaches on the same data, model and budget. This script is that recipe, kept close to the upstream files:

  huggingface/transformers examples/pytorch/question-answering/run_qa.py   prepare_train_features,
      prepare_validation_features, default_data_collator (pad_to_max_length=True) or DataCollatorWithPadding
  .../question-answering/utils_qa.py      postprocess_qa_predictions (n-best spans over every window of an example)
  .../question-answering/trainer_qa.py    predict on the features, then post-process on the examples
  evaluate's "squad" metric (SQuAD v1.1 script) and, with --version-2-with-negative, "squad_v2"

Scores are reported as FRACTIONS in 0..1 (the `evaluate` metrics report them x100).

Reproduce (from the repository root):

    HF_HUB_OFFLINE=1 WANDB_MODE=disabled python benchmarks/hf_reference/run_qa_trainer.py \\
        --data ../shared/data/squad --model /work/minilm --out docs/compare/squad_hf \\
        --train-samples 4000 --epochs 2 --lr 1e-4 --batch-size 32 --max-length 256 --doc-stride 64
    python benchmarks/hf_reference/run_qa_trainer.py --selftest      # metric and post-processing checks, no model

Deviations from run_qa.py, all deliberate:
  - --train-samples takes a seeded random subset of the train EXAMPLES (shuffle(seed).select(range(N))) and keeps
    all their features; run_qa.py takes the first N examples and then truncates the features to N as well.
  - --eval-samples takes the first N validation examples and keeps all their features; run_qa.py also truncates
    the features to N, which can drop windows of the last examples.
  - The metrics are computed here (same code as `evaluate`'s squad / squad_v2, no download), as fractions; squad_v2's
    best_exact / best_f1 threshold search is left out (no_answer_probability is 0.0 as in run_qa.py).
  - Post-processing skips the n-best softmax probabilities (they only feed the n-best file, never the answer).
  - No checkpoint, model card, n-best file or Hub telemetry; evaluation happens once after training.
    predictions.json only with --save-predictions (it holds dataset text: keep it out of the repository).
  - transformers 5 names: eval_strategy, processing_class, warmup_steps given as a ratio in [0, 1) (warmup_ratio
    is gone in v5).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import string
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from datasets import Dataset, load_dataset
from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)


# ------------------------------------------------------------------------------------------------ CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's settings; defaults are run_qa.py's where it has one."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="directory with train.parquet and validation.parquet")
    p.add_argument("--model", help="local model directory")
    p.add_argument("--out", type=Path, help="output directory (metrics.json, metrics.md)")
    p.add_argument("--train-samples", type=int, default=None, help="seeded random subset of train examples")
    p.add_argument("--eval-samples", type=int, default=None, help="first N validation examples")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--warmup-ratio", type=float, default=0.0, help="in [0, 1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--doc-stride", type=int, default=128)
    p.add_argument("--n-best-size", type=int, default=20)
    p.add_argument("--max-answer-length", type=int, default=30)
    p.add_argument("--version-2-with-negative", action="store_true", help="SQuAD v2: unanswerable questions")
    p.add_argument("--null-score-diff-threshold", type=float, default=0.0)
    p.add_argument("--dynamic-padding", action="store_true", help="DataCollatorWithPadding instead of max_length")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps (smoke tests); -1 = off")
    p.add_argument("--save-predictions", action="store_true", help="also write predictions.json (dataset text!)")
    p.add_argument("--selftest", action="store_true", help="run the metric/post-processing checks and exit")
    args = p.parse_args(argv)
    if not args.selftest and (args.data is None or args.model is None or args.out is None):
        p.error("--data, --model and --out are required")
    if not 0.0 <= args.warmup_ratio < 1.0:
        p.error("--warmup-ratio must be in [0, 1)")
    return args


# ------------------------------------------------------------------------------------------------ data
def load_splits(data: Path, train_samples: int | None, eval_samples: int | None, seed: int) -> tuple[Dataset, Dataset]:
    """Train and validation examples; the train subset is random (seeded) so it is not biased to the first titles."""
    files = {"train": str(data / "train.parquet"), "validation": str(data / "validation.parquet")}
    raw = load_dataset("parquet", data_files=files)
    train, val = raw["train"], raw["validation"]
    if train_samples is not None:
        train = train.shuffle(seed=seed).select(range(min(train_samples, len(train))))
    if eval_samples is not None:
        val = val.select(range(min(eval_samples, len(val))))
    return train, val


def _tokenize(examples: dict[str, list], tok: PreTrainedTokenizerBase, max_len: int, stride: int, pad: bool) -> Any:
    """run_qa.py's call: question+context pair, context truncated into overlapping windows."""
    pad_on_right = tok.padding_side == "right"
    questions = [q.lstrip() for q in examples["question"]]  # leading blanks waste the question's token budget
    return tok(
        questions if pad_on_right else examples["context"],
        examples["context"] if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=max_len,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length" if pad else False,
    )


def _span_positions(offsets: list, seq_ids: list, cls_index: int, answers: dict, ctx_id: int) -> tuple[int, int]:
    """Token start/end of the first gold answer in one window, or the CLS index when the window lacks it."""
    if len(answers["answer_start"]) == 0:
        return cls_index, cls_index
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    tok_start = 0
    while seq_ids[tok_start] != ctx_id:
        tok_start += 1
    tok_end = len(seq_ids) - 1
    while seq_ids[tok_end] != ctx_id:
        tok_end -= 1
    if not (offsets[tok_start][0] <= start_char and offsets[tok_end][1] >= end_char):
        return cls_index, cls_index
    while tok_start < len(offsets) and offsets[tok_start][0] <= start_char:
        tok_start += 1
    while offsets[tok_end][1] >= end_char:
        tok_end -= 1
    return tok_start - 1, tok_end + 1


def prepare_train_features(examples: dict[str, list], tok: PreTrainedTokenizerBase, **kw: Any) -> Any:
    """run_qa.py's prepare_train_features: one feature per window, labelled from character offsets."""
    enc = _tokenize(examples, tok, **kw)
    sample_mapping = enc.pop("overflow_to_sample_mapping")
    offset_mapping = enc.pop("offset_mapping")
    ctx_id = 1 if tok.padding_side == "right" else 0
    enc["start_positions"], enc["end_positions"] = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = enc["input_ids"][i]
        if tok.cls_token_id in input_ids:
            cls_index = input_ids.index(tok.cls_token_id)
        elif tok.bos_token_id in input_ids:
            cls_index = input_ids.index(tok.bos_token_id)
        else:
            cls_index = 0
        answers = examples["answers"][sample_mapping[i]]
        start, end = _span_positions(offsets, enc.sequence_ids(i), cls_index, answers, ctx_id)
        enc["start_positions"].append(start)
        enc["end_positions"].append(end)
    return enc


def prepare_validation_features(examples: dict[str, list], tok: PreTrainedTokenizerBase, **kw: Any) -> Any:
    """run_qa.py's prepare_validation_features: keep example_id, blank (None) the offsets outside the context."""
    enc = _tokenize(examples, tok, **kw)
    sample_mapping = enc.pop("overflow_to_sample_mapping")
    ctx_id = 1 if tok.padding_side == "right" else 0
    enc["example_id"] = []
    for i in range(len(enc["input_ids"])):
        seq_ids = enc.sequence_ids(i)
        enc["example_id"].append(examples["id"][sample_mapping[i]])
        enc["offset_mapping"][i] = [o if seq_ids[k] == ctx_id else None for k, o in enumerate(enc["offset_mapping"][i])]
    return enc


def build_features(
    train: Dataset, val: Dataset, tok: PreTrainedTokenizerBase, args: argparse.Namespace
) -> tuple[Dataset, Dataset]:
    """Tokenized train and validation features (one row per context window)."""
    kw = {"tok": tok, "max_len": min(args.max_length, tok.model_max_length), "stride": args.doc_stride}
    kw["pad"] = not args.dynamic_padding
    train_f = train.map(prepare_train_features, batched=True, remove_columns=train.column_names, fn_kwargs=kw)
    val_f = val.map(prepare_validation_features, batched=True, remove_columns=val.column_names, fn_kwargs=kw)
    return train_f, val_f


# ------------------------------------------------------------------------------------------------ post-processing
def _window_candidates(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: list, n_best: int, max_answer_len: int
) -> list[dict[str, Any]]:
    """utils_qa.py's inner loop: top-n start x top-n end pairs that lie in the context, in order, short enough."""
    starts = np.argsort(start_logits)[-1 : -n_best - 1 : -1].tolist()
    ends = np.argsort(end_logits)[-1 : -n_best - 1 : -1].tolist()
    out = []
    for s in starts:
        for e in ends:
            if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                continue
            if e < s or e - s + 1 > max_answer_len:
                continue
            score = start_logits[s] + end_logits[e]
            out.append({"offsets": (offsets[s][0], offsets[e][1]), "score": score, "start_logit": start_logits[s]})
            out[-1]["end_logit"] = end_logits[e]
    return out


def _pick_answer(preds: list[dict[str, Any]], null: dict[str, Any] | None, context: str, threshold: float) -> str:
    """utils_qa.py's choice among the n-best of one example (null = the min null prediction, v2 only)."""
    for pred in preds:
        pred["text"] = context[pred["offsets"][0] : pred["offsets"][1]]
    if len(preds) == 0 or (len(preds) == 1 and preds[0]["text"] == ""):
        preds.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
    if null is None:
        return preds[0]["text"]
    i = 0
    while preds[i]["text"] == "":
        i += 1
    best = preds[i]
    score_diff = null["score"] - best["start_logit"] - best["end_logit"]
    return "" if score_diff > threshold else best["text"]


def postprocess_qa_predictions(
    examples: Dataset,
    features: Dataset,
    predictions: tuple[np.ndarray, np.ndarray],
    version_2_with_negative: bool = False,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
) -> dict[str, str]:
    """utils_qa.py's postprocess_qa_predictions: the best span of each example over all of its windows."""
    all_start, all_end = predictions
    assert len(all_start) == len(features), f"{len(all_start)} predictions for {len(features)} features"
    index_of = {k: i for i, k in enumerate(examples["id"])}
    per_example = collections.defaultdict(list)
    for i, ex_id in enumerate(features.select_columns(["example_id"]).to_dict()["example_id"]):
        per_example[index_of[ex_id]].append(i)
    offsets_col = features.select_columns(["offset_mapping"]).to_dict()["offset_mapping"]
    answers = {}
    for ex_index, example in enumerate(examples):
        prelim, null = [], None
        for f in per_example[ex_index]:
            start, end = all_start[f], all_end[f]
            if null is None or null["score"] > start[0] + end[0]:
                null = {"offsets": (0, 0), "score": start[0] + end[0], "start_logit": start[0], "end_logit": end[0]}
            prelim += _window_candidates(start, end, offsets_col[f], n_best_size, max_answer_length)
        if version_2_with_negative:
            prelim.append(null)
        preds = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best_size]
        if version_2_with_negative and not any(p["offsets"] == (0, 0) for p in preds):
            preds.append(null)
        v2_null = null if version_2_with_negative else None
        answers[example["id"]] = _pick_answer(preds, v2_null, example["context"], null_score_diff_threshold)
    return answers


# ------------------------------------------------------------------------------------------------ SQuAD metric
def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, drop punctuation, drop articles a/an/the, squeeze whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match_score(prediction: str, ground_truth: str) -> float:
    """SQuAD v1.1 exact match after normalisation."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str) -> float:
    """SQuAD v1.1 token F1 (bag of normalised tokens); 0 when nothing is shared, empty strings included."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    num_same = sum((collections.Counter(pred) & collections.Counter(gold)).values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(pred), num_same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _f1_v2(prediction: str, ground_truth: str) -> float:
    """squad_v2's F1: like v1's, except an empty side scores 1 when both are empty (a correct no-answer)."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    if not pred or not gold:
        return float(pred == gold)
    return f1_score(prediction, ground_truth)


def squad_v1(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """evaluate's "squad": each score is the max over the gold answers, then averaged; here as fractions."""
    em = [
        max(exact_match_score(predictions[k], g) for g in golds) if k in predictions else 0.0
        for k, golds in references.items()
    ]  # as the official script: an unanswered id counts, as 0
    f1 = [
        max(f1_score(predictions[k], g) for g in golds) if k in predictions else 0.0 for k, golds in references.items()
    ]
    return {"exact_match": float(np.mean(em)), "f1": float(np.mean(f1)), "total": len(em)}


def squad_v2(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """evaluate's "squad_v2" (no_answer_probability 0): overall, HasAns and NoAns exact / f1, as fractions."""
    em, f1, has = {}, {}, {}
    for k, answers in references.items():
        golds = [a for a in answers if normalize_answer(a)] or [""]
        em[k] = max(exact_match_score(predictions[k], g) for g in golds)
        f1[k] = max(_f1_v2(predictions[k], g) for g in golds)
        has[k] = golds != [""]
    out: dict[str, float] = {"exact": float(np.mean(list(em.values()))), "f1": float(np.mean(list(f1.values())))}
    out["total"] = len(em)
    for name, keep in (("HasAns", True), ("NoAns", False)):
        ids = [k for k in em if has[k] is keep]
        if ids:
            out[f"{name}_exact"] = float(np.mean([em[k] for k in ids]))
            out[f"{name}_f1"] = float(np.mean([f1[k] for k in ids]))
            out[f"{name}_total"] = len(ids)
    return out


def _selftest() -> None:
    """Hand-computed SQuAD cases (EM/F1 by hand) and a two-window post-processing case."""
    cases = [  # prediction, gold answers, EM, F1
        ("the Eiffel Tower", ["Eiffel Tower"], 1.0, 1.0),  # article and case ignored
        ("in 1889", ["1889"], 0.0, 2 / 3),  # P = 1/2, R = 1
        ("a big red dog", ["the red dog", "dog"], 0.0, 0.8),  # vs "red dog": P = 2/3, R = 1; vs "dog": 0.5
        ("Denver Broncos!", ["Broncos", "denver broncos"], 1.0, 1.0),  # max over golds; punctuation dropped
        ("Paris", ["London"], 0.0, 0.0),
        ("  Saint-Denis ", ["SaintDenis"], 1.0, 1.0),  # the hyphen is removed, not turned into a space
    ]
    for pred, golds, em, f1 in cases:
        got = squad_v1({"q": pred}, {"q": golds})
        assert got["exact_match"] == em and abs(got["f1"] - f1) < 1e-9, (pred, golds, got)
    agg = squad_v1({str(i): c[0] for i, c in enumerate(cases)}, {str(i): c[1] for i, c in enumerate(cases)})
    assert abs(agg["exact_match"] - 3 / 6) < 1e-9 and abs(agg["f1"] - (3 + 2 / 3 + 0.8) / 6) < 1e-9, agg
    v2 = squad_v2({"a": "", "b": "x", "c": "the cat"}, {"a": [], "b": [], "c": ["cat"]})
    assert (v2["exact"], v2["NoAns_exact"], v2["HasAns_f1"]) == (2 / 3, 0.5, 1.0), v2
    # two windows of one context "ab cd ef": window 0 sees "ab cd", window 1 sees "cd ef"; best pair is in window 1
    examples = Dataset.from_dict({"id": ["x"], "context": ["ab cd ef"]})
    offsets = [[None, (0, 2), (3, 5), None], [None, (3, 5), (6, 8), None]]
    features = Dataset.from_dict({"example_id": ["x", "x"], "offset_mapping": offsets})
    start = np.array([[0.0, 1.0, 0.5, 9.0], [0.0, 0.2, 3.0, 9.0]])  # index 3 (not context) must be ignored
    end = np.array([[0.0, 0.1, 1.0, 9.0], [0.0, 0.3, 2.0, 9.0]])
    assert postprocess_qa_predictions(examples, features, (start, end)) == {"x": "ef"}
    assert postprocess_qa_predictions(examples, features, (start, end), max_answer_length=0) == {"x": "empty"}
    print(json.dumps({"selftest": "ok", "cases": len(cases)}))


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


def evaluate_qa(trainer: Trainer, val: Dataset, val_f: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """trainer_qa.py's evaluate: logits for every feature, post-processed per example, then the SQuAD metric."""
    t0 = time.perf_counter()
    output = trainer.predict(val_f)  # example_id / offset_mapping are dropped by remove_unused_columns
    predict_seconds = time.perf_counter() - t0
    start_logits, end_logits = output.predictions[:2]
    answers = postprocess_qa_predictions(
        val, val_f, (start_logits, end_logits), args.version_2_with_negative, args.n_best_size,
        args.max_answer_length, args.null_score_diff_threshold,
    )  # fmt: skip
    refs = {ex["id"]: list(ex["answers"]["text"]) for ex in val}
    scores = squad_v2(answers, refs) if args.version_2_with_negative else squad_v1(answers, refs)
    if args.save_predictions:  # off by default: the answers are dataset text, which stays out of the repository
        (args.out / "predictions.json").write_text(json.dumps(answers, indent=1) + "\n")
    return {**scores, "eval_predict_seconds": predict_seconds, "eval_seconds": time.perf_counter() - t0}


def write_outputs(out: Path, result: dict[str, Any]) -> None:
    """metrics.json (everything) and a short metrics.md for a human."""
    (out / "metrics.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    ev, tr = result["eval"], result["train"]
    main = ["exact", "f1"] if "exact" in ev else ["exact_match", "f1"]
    lines = [
        "# SQuAD, Hugging Face Trainer reference (run_qa.py recipe)",
        "",
        f"Model `{result['args']['model']}`, {tr['train_examples']} train examples ({tr['train_features']} "
        f"features), {ev['total']} validation questions. Scores are fractions (0..1).",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {ev[k]:.4f} |" for k in main],
        f"| train seconds | {tr['train_seconds']:.1f} |",
        f"| train examples/s | {tr['train_examples_per_second']:.2f} |",
        f"| train features/s | {tr['train_features_per_second']:.2f} |",
        f"| eval seconds | {ev['eval_seconds']:.1f} |",
        "",
        f"Command: `{result['command']}`",
    ]
    (out / "metrics.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train on the (subset of) train examples, evaluate once on validation, write and print the metrics."""
    args = parse_args(argv)
    if args.selftest:
        _selftest()
        return {}
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)  # before the model: the new QA head's init depends on it, as in run_qa.py
    tok = AutoTokenizer.from_pretrained(args.model)
    if not tok.is_fast:
        raise TypeError("run_qa.py's preprocessing needs a fast tokenizer (offset mappings)")
    model = AutoModelForQuestionAnswering.from_pretrained(args.model)
    train, val = load_splits(args.data, args.train_samples, args.eval_samples, args.seed)
    train_f, val_f = build_features(train, val, tok, args)
    collator = DataCollatorWithPadding(tok) if args.dynamic_padding else default_data_collator
    trainer = Trainer(
        model=model, args=training_arguments(args), train_dataset=train_f, processing_class=tok, data_collator=collator
    )
    t0 = time.perf_counter()
    train_out = trainer.train()
    train_seconds = time.perf_counter() - t0
    epochs_done = trainer.state.epoch or 0.0
    train = {
        "train_seconds": train_seconds,
        "train_examples": len(train),
        "train_features": len(train_f),
        "train_examples_per_second": len(train) * epochs_done / train_seconds,
        "train_features_per_second": len(train_f) * epochs_done / train_seconds,
        "epochs_done": epochs_done,
        "global_step": trainer.state.global_step,
        "train_loss": train_out.training_loss,
    }
    ev = evaluate_qa(trainer, val, val_f, args)
    ev["eval_features"] = len(val_f)
    result = {"task": "squad_v2" if args.version_2_with_negative else "squad", "eval": ev, "train": train}
    result.update(args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})
    result["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    result["scores_are"] = "fractions in 0..1 (evaluate's squad metric reports x100)"
    write_outputs(args.out, result)
    print(json.dumps({**ev, **train}))
    return result


if __name__ == "__main__":
    main()
