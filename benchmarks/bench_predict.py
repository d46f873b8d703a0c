"""Prediction throughput of src/predict.py's Predictor (PyTorch and ONNX) against transformers.pipeline.

Same exported model, same texts, same max_length, CPU threads as set by --threads, fp32:

  hf_pipeline     transformers.pipeline("text-classification" | "token-classification",
                  aggregation_strategy="simple") with truncation at max_length: the baseline; every
                  ratio is relative to it at the same batch size.
  template_torch  Predictor(backend="torch"): texts sorted by length, dynamic padding, windows for NER.
  template_onnx   Predictor(backend="onnx"): the same, the graph run by onnxruntime (exported here,
                  parity-checked against PyTorch first).

Each variant predicts every text once at each batch size after a warm-up of a few texts; texts/s is
texts divided by wall time of that call (tokenization and grouping included, model loading excluded).

    python benchmarks/bench_predict.py --model <run>/hf_model --texts ../shared/data/imdb/test.parquet
    python benchmarks/bench_predict.py --model <ner run>/hf_model --texts ../shared/data/conll2003/test.parquet \\
        --column tokens --out docs/bench_predict_ner
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASELINE = "hf_pipeline"
WARMUP = 4


def load_texts(path: Path, column: str, n: int, seed: int) -> list[str]:
    """`n` texts sampled from a parquet file or an input file predict.py reads; token lists are joined by spaces."""
    if path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path, columns=[column])
        frame = frame.sample(n=min(n, len(frame)), random_state=seed)
        return [v if isinstance(v, str) else " ".join(v) for v in frame[column]]
    from src.inference.inputs import read_texts

    return [t for t in read_texts(path, column) if t.strip()][:n]


def pipeline_predict(model_dir: str, pipeline_task: str, max_length: int):
    """A callable (texts, batch_size) -> results of transformers' pipeline for the task."""
    from transformers import pipeline

    if pipeline_task == "text-classification":
        pipe = pipeline(pipeline_task, model=model_dir, device="cpu")
        return lambda texts, b: pipe(texts, batch_size=b, truncation=True, max_length=max_length)
    pipe = pipeline(pipeline_task, model=model_dir, aggregation_strategy="simple", device="cpu")
    return lambda texts, b: pipe(texts, batch_size=b)  # no truncation option: NER texts must fit the model


def measure(name: str, predict, texts: list[str], batch_sizes: list[int], tokens: int) -> dict[int, dict]:
    out = {}
    predict(texts[:WARMUP], batch_sizes[0])
    for b in batch_sizes:
        start = time.perf_counter()
        predict(texts, b)
        seconds = time.perf_counter() - start
        out[b] = {"texts_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds, "seconds": seconds}
        print(f"{name:15s} batch {b:3d}: {out[b]['texts_per_s']:7.1f} texts/s ({seconds:.1f} s)", flush=True)
    return out


def table(results: dict[str, dict[int, dict]], batch_sizes: list[int]) -> str:
    lines = ["| variant | " + " | ".join(f"batch {b}: texts/s" for b in batch_sizes) + " |",
             "|---|" + "---|" * len(batch_sizes)]  # fmt: skip
    for name, per_batch in results.items():
        rates = [(per_batch[b]["texts_per_s"], results[BASELINE][b]["texts_per_s"]) for b in batch_sizes]
        cells = [f"{rate:.1f} ({rate / base:.2f}x)" for rate, base in rates]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an exported model directory (<run>/hf_model)")
    parser.add_argument("--texts", required=True, help=".parquet, .txt, .csv or .jsonl file of texts")
    parser.add_argument("--column", default="text", help="column/field of the texts (token lists are joined)")
    parser.add_argument("--n", type=int, default=256, help="texts to predict")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench_predict"), help="prefix of .json/.md outputs")
    args = parser.parse_args()

    import torch

    from src.inference.onnx_export import export_onnx
    from src.inference.predictor import Predictor, Settings, load_config, load_model
    from src.tasks import task_for_model

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = load_texts(Path(args.texts), args.column, args.n, args.seed)
    config = load_config(args.model)
    task = task_for_model(config, args.model)
    io = task.model_io(dict(getattr(config, "finetune", None) or {}))
    onnx_path = Path(tempfile.mkdtemp()) / "model.onnx"
    start = time.perf_counter()
    tokenizer_inputs = task.load_tokenizer(args.model, key="--model").model_input_names
    export_onnx(load_model(args.model, task.auto_class), onnx_path, io, io.input_names(tokenizer_inputs))
    export_s = time.perf_counter() - start

    def template(backend: str):
        p = Predictor(args.model, task, config=config, backend=backend, device="cpu", onnx_path=onnx_path,
                      threads=args.threads, settings=Settings(max_length=args.max_length))  # fmt: skip

        def predict(batch: list[str], b: int) -> list[dict]:
            p.settings.batch_size = b
            return p.predict(batch)

        return p, predict

    torch_predictor, torch_predict = template("torch")
    tokens = sum(min(len(ids), args.max_length) for ids in torch_predictor.tokenizer(texts, verbose=False)["input_ids"])
    results = {
        BASELINE: measure(
            BASELINE, pipeline_predict(args.model, task.pipeline_task, args.max_length), texts, args.batch_sizes, tokens
        ),
        "template_torch": measure("template_torch", torch_predict, texts, args.batch_sizes, tokens),
        "template_onnx": measure("template_onnx", template("onnx")[1], texts, args.batch_sizes, tokens),
    }
    setup = {
        "model": args.model, "task": task.name, "texts": f"{len(texts)} from {args.texts}",
        "max_length": args.max_length,
        "mean tokens per text": round(tokens / len(texts), 1), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "onnx export s": round(export_s, 1),
    }  # fmt: skip
    md = "\n".join([f"- {k}: {v}" for k, v in setup.items()]) + "\n\n" + table(results, args.batch_sizes) + "\n"
    print("\n" + md)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text(md)
    Path(f"{args.out}.json").write_text(json.dumps({"setup": setup, "results": results}, indent=2))


if __name__ == "__main__":
    main()
