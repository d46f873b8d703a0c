"""Prediction throughput, MFU and accuracy of src/predict.py's Predictor (PyTorch, ONNX fp32 and int8) against
transformers.pipeline.

Same exported model, same inputs, same max_length, CPU threads as set by --threads:

  hf_pipeline     transformers.pipeline("text-classification" | "token-classification",
                  aggregation_strategy="simple") with truncation at max_length, fp32: the baseline; every
                  ratio is relative to it at the same batch size.
  template_torch  Predictor(backend="torch"): inputs sorted by length, dynamic padding, windows for NER.
  template_onnx   Predictor(backend="onnx"): the same, the fp32 graph run by onnxruntime (exported here,
                  parity-checked against PyTorch by the tests).
  template_int8   Predictor(backend="onnx", quantized=True): the int8 model src/export.py quantize=int8 writes
                  (src/inference/quantize.py), quantized here from that fp32 graph.

Timing: after a warm-up of a few inputs per variant, each round runs every variant once over all inputs,
variants interleaved, so load from other work on a shared machine hits them alike; a variant's figure is its
best round (inputs/s = inputs / wall time of the call: tokenization, sorting and post-processing included,
model loading excluded).

MFU: model FLOPs of the real tokens (the forward pass, 1/3 of src/training/flops.py's training FLOPs, per
sequence at its own length; padding is not counted, so every variant does the same useful work and MFU ratios
equal throughput ratios) / seconds / the attainable fp32 matmul peak benchmarks/bench_mfu.py measured
(--mfu-json). The int8 variant is measured against the same fp32 peak.

Accuracy (--label-column, single-label classification): each variant's predicted label against the gold one,
on the same inputs.

    python benchmarks/bench_predict.py --model <imdb run>/hf_model --texts ../shared/data/imdb/test.parquet \\
        --label-column label --n 256 --max-length 256 --out docs/bench_predict_imdb
    python benchmarks/bench_predict.py --model <sick run>/hf_model --texts ../shared/data/sick/test.parquet \\
        --column sentence_A --pair-column sentence_B --label-column entailment_label --out docs/bench_predict_sick
    python benchmarks/bench_predict.py --model <ner run>/hf_model --texts ../shared/data/conll2003/test.parquet \\
        --column tokens --out docs/bench_predict_ner
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASELINE = "hf_pipeline"
VARIANTS = (BASELINE, "template_torch", "template_onnx", "template_int8")
WARMUP = 4
Predict = Callable[[list[dict], int], list[Any]]  # (rows, batch size) -> one output per row


def load_rows(args: argparse.Namespace) -> tuple[list[dict], list | None]:
    """`--n` inputs ({"text"} or {"text", "text_pair"}) sampled from a parquet file, or read from an input file
    predict.py reads (no labels); token lists are joined by spaces. Returns (rows, gold labels or None)."""
    path = Path(args.texts)
    if path.suffix != ".parquet":
        if args.pair_column or args.label_column:
            sys.exit("--pair-column and --label-column need a .parquet file")
        from src.inference.inputs import read_texts

        return [{"text": t} for t in read_texts(path, args.column) if t.strip()][: args.n], None
    import pandas as pd

    fields = {"text": args.column, "text_pair": args.pair_column}
    frame = pd.read_parquet(path, columns=[c for c in (*fields.values(), args.label_column) if c])
    frame = frame.sample(n=min(args.n, len(frame)), random_state=args.seed)
    joined = {k: [v if isinstance(v, str) else " ".join(v) for v in frame[c]] for k, c in fields.items() if c}
    rows = [{k: values[i] for k, values in joined.items()} for i in range(len(frame))]
    return rows, (list(frame[args.label_column]) if args.label_column else None)


def pipeline_predict(model_dir: str, pipeline_task: str, max_length: int) -> Predict:
    """transformers' pipeline for the task, fp32 on CPU: (rows, batch size) -> its outputs."""
    from transformers import pipeline

    if pipeline_task == "text-classification":
        pipe = pipeline(pipeline_task, model=model_dir, device="cpu")
        return lambda rows, b: pipe([r if "text_pair" in r else r["text"] for r in rows], batch_size=b,
                                    truncation=True, max_length=max_length)  # fmt: skip
    pipe = pipeline(pipeline_task, model=model_dir, aggregation_strategy="simple", device="cpu")
    return lambda rows, b: pipe([r["text"] for r in rows], batch_size=b)  # no truncation: NER texts must fit


def template_predict(predictor: Any) -> Predict:
    def predict(rows: list[dict], b: int) -> list[dict]:
        predictor.settings.batch_size = b
        return predictor.predict(rows)

    return predict


def forward_flops(predictor: Any, model: Any, rows: list[dict]) -> tuple[float, int]:
    """(model FLOPs of one forward pass over every input's own tokens, those tokens), as the predictor encodes
    them (truncation, pairs, windows)."""
    from src.training.flops import StepFlops

    flops_of = StepFlops(model)
    lengths = []
    for sequence in predictor.task.encode(predictor, rows).sequences:
        ids = sequence["input_ids"]
        lengths += [len(x) for x in ids] if ids and isinstance(ids[0], list) else [len(ids)]
    return sum(flops_of(1, n) / 3.0 for n in lengths), sum(lengths)


def accuracy(outputs: list[Any], gold: list, id2label: dict[int, str]) -> float:
    """Share of outputs whose label is the gold one (an integer gold label is read through id2label)."""
    names = [id2label[int(g)] if not isinstance(g, str) else g for g in gold]
    predicted = [o["label"] if isinstance(o, dict) else o[0]["label"] for o in outputs]
    return sum(p == g for p, g in zip(predicted, names, strict=True)) / len(names)


def measure(predictors: dict[str, Predict], rows: list[dict], batch_sizes: list[int], rounds: int) -> tuple:
    """Seconds of every round per variant and batch size (variants interleaved), and each variant's last outputs."""
    seconds: dict[str, dict[int, list[float]]] = {name: {b: [] for b in batch_sizes} for name in predictors}
    outputs: dict[str, list] = {}
    for predict in predictors.values():
        predict(rows[:WARMUP], batch_sizes[0])
    for b in batch_sizes:
        for r in range(rounds):
            for name, predict in predictors.items():
                start = time.perf_counter()
                outputs[name] = predict(rows, b)
                seconds[name][b].append(time.perf_counter() - start)
                print(f"{name:15s} batch {b:3d} round {r + 1}: {len(rows) / seconds[name][b][-1]:7.1f} inputs/s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
    return seconds, outputs


def summarise(seconds: dict, n: int, flops: float, tokens: int, peak: float | None) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for name, per_batch in seconds.items():
        for b, times in per_batch.items():
            best = min(times)
            out.setdefault(name, {})[b] = {
                "texts_per_s": n / best, "texts_per_s_median": n / statistics.median(times),
                "tokens_per_s": tokens / best, "mfu": flops / best / (peak * 1e12) if peak else None,
                "seconds": times,
            }  # fmt: skip
    return out


def table(results: dict[str, dict[int, dict]], batch_sizes: list[int], accuracies: dict[str, float]) -> str:
    head = [f"batch {b}: inputs/s (x {BASELINE}) | batch {b}: MFU" for b in batch_sizes]
    acc = " | accuracy (- baseline) |" if accuracies else " |"
    lines = ["| variant | " + " | ".join(head) + acc, "|---|" + "---|" * (2 * len(batch_sizes) + bool(accuracies))]
    for name, per_batch in results.items():
        cells = []
        for b in batch_sizes:
            rate, base, mfu = per_batch[b]["texts_per_s"], results[BASELINE][b]["texts_per_s"], per_batch[b]["mfu"]
            cells += [f"{rate:.1f} ({rate / base:.2f}x)", "n/a" if mfu is None else f"{mfu:.1%}"]
        if accuracies:
            cells.append(f"{accuracies[name]:.4f} ({accuracies[name] - accuracies[BASELINE]:+.4f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_variants(args: argparse.Namespace, task: Any, config: Any, model: Any, scratch: Path) -> tuple[dict, dict]:
    """The variants' predict callables (those asked for) and the setup figures (export and quantization time)."""
    from src.inference.onnx_export import export_onnx
    from src.inference.predictor import Predictor, Settings
    from src.inference.quantize import quantize_int8

    io = task.model_io(dict(getattr(config, "finetune", None) or {}))
    onnx_path, setup = scratch / "model.onnx", {}
    start = time.perf_counter()
    tokenizer_inputs = task.load_tokenizer(args.model, key="--model").model_input_names
    export_onnx(model, onnx_path, io, io.input_names(tokenizer_inputs))
    setup["onnx export s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    int8_path = quantize_int8(onnx_path)
    setup["int8 quantization s"] = round(time.perf_counter() - start, 1)
    setup["onnx MiB fp32 / int8"] = f"{onnx_path.stat().st_size / 2**20:.1f} / {int8_path.stat().st_size / 2**20:.1f}"

    def template(**kwargs: Any) -> Any:
        return Predictor(args.model, task, config=config, device="cpu", threads=args.threads,
                         settings=Settings(max_length=args.max_length), **kwargs)  # fmt: skip

    makers = {
        BASELINE: lambda: pipeline_predict(args.model, task.pipeline_task, args.max_length),
        "template_torch": lambda: template_predict(template(backend="torch")),
        "template_onnx": lambda: template_predict(template(backend="onnx", onnx_path=onnx_path)),
        "template_int8": lambda: template_predict(template(backend="onnx", onnx_path=int8_path, quantized=True)),
    }
    return {name: makers[name]() for name in args.variants}, setup


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an exported model directory (<run>/hf_model)")
    parser.add_argument("--texts", required=True, help=".parquet, .txt, .csv or .jsonl file of texts")
    parser.add_argument("--column", default="text", help="column/field of the texts (token lists are joined)")
    parser.add_argument("--pair-column", help="column of the second texts (sentence-pair models; parquet only)")
    parser.add_argument("--label-column", help="gold labels: report each variant's accuracy (parquet only)")
    parser.add_argument("--n", type=int, default=256, help="inputs to predict")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per batch size (the best counts)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads (default: all)")
    parser.add_argument("--mfu-json", default=str(ROOT / "docs" / "bench_mfu.json"), help="bench_mfu.py's peak")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench_predict"), help="prefix of .json/.md outputs")
    args = parser.parse_args()
    if BASELINE not in args.variants:
        args.variants.insert(0, BASELINE)  # every ratio is to it
    return args


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    args = parse_args()
    import onnxruntime
    import torch

    from benchmarks.bench_mfu import measured_peak
    from src.inference.predictor import Predictor, Settings, load_config, load_model
    from src.tasks import task_for_model

    if args.threads:
        torch.set_num_threads(args.threads)
    setup: dict[str, Any] = {"load average (1/5/15 min) before": load_average()}
    rows, gold = load_rows(args)
    config = load_config(args.model)
    task = task_for_model(config, args.model)
    model = load_model(args.model, task.auto_class)
    probe = Predictor(args.model, task, config=config, device="cpu", settings=Settings(max_length=args.max_length))
    flops, tokens = forward_flops(probe, model, rows)
    peak = measured_peak(args.mfu_json, "fp32")
    predictors, built = build_variants(args, task, config, model, Path(tempfile.mkdtemp()))
    seconds, outputs = measure(predictors, rows, args.batch_sizes, args.rounds)
    results = summarise(seconds, len(rows), flops, tokens, peak)
    accuracies = {name: accuracy(out, gold, config.id2label) for name, out in outputs.items()} if gold else {}
    setup |= {
        "after": load_average(), "model": args.model, "task": task.name, "inputs": f"{len(rows)} from {args.texts}",
        "pairs": f"{args.column} + {args.pair_column}" if args.pair_column else "no", "max_length": args.max_length,
        "mean tokens per input": round(tokens / len(rows), 1),
        "forward GFLOPs per input": round(flops / len(rows) / 1e9, 3),
        "fp32 peak (bench_mfu)": f"{peak:.3f} TFLOP/s" if peak else "not measured", "threads": torch.get_num_threads(),
        "rounds": args.rounds, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, **built,
    }  # fmt: skip
    md = "\n".join([f"- {k}: {v}" for k, v in setup.items()]) + "\n\n" + table(results, args.batch_sizes, accuracies)
    print("\n" + md)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text(md + "\n")
    Path(f"{args.out}.json").write_text(
        json.dumps({"setup": setup, "results": results, "accuracy": accuracies}, indent=2)
    )


if __name__ == "__main__":
    main()
