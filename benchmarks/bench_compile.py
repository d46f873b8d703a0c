"""How many graphs torch.compile builds for the batch shapes of a length-grouped epoch, per compile mode.

Dynamic padding gives every batch its own length: a compile that recompiles per length costs minutes on a
GPU. Each mode runs in its own process, on the same 10 training batches (8 x 37 ... 8 x 128 tokens):

  model           model.compile(dynamic=True): the whole model (what `model.compile=model` does)
  model_pad64     the same with lengths padded to multiples of 64 (the old advice: 2 shapes instead of 10)
  layers          each transformer block compiled with dynamic shapes (`model.compile=layers`, the default for true)

    python benchmarks/bench_compile.py --model <model dir>          # e.g. a tiny model: python -m src.demo
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = (37, 64, 91, 128, 50, 77, 12, 100, 23, 128)
MODES = ("model", "model_pad64", "layers")


def run(model_dir: str, mode: str) -> dict:
    import torch
    from torch._dynamo.utils import counters
    from transformers import AutoModelForSequenceClassification

    from src.models.compile import compile_backbone

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2).train()
    compile_backbone(model, "layers" if mode == "layers" else "model")
    generator = torch.Generator().manual_seed(0)
    padded = 0
    start = time.perf_counter()
    for length in LENGTHS:
        width = math.ceil(length / 64) * 64 if mode == "model_pad64" else length
        padded += (width - length) * 8
        ids = torch.randint(5, model.config.vocab_size, (8, width), generator=generator)
        model(input_ids=ids, labels=torch.zeros(8, dtype=torch.long)).loss.backward()
    return {"graphs": int(counters["frames"]["ok"]), "seconds": time.perf_counter() - start,
            "extra_tokens": padded / (8 * sum(LENGTHS))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # internal: one mode in this process
    args = parser.parse_args()
    if args.mode:
        sys.path.insert(0, str(ROOT))
        print("RESULT " + json.dumps(run(args.model, args.mode)))
        return
    lines = ["| mode | compiled graphs for 10 lengths | seconds (compile + 10 steps, CPU) | extra padded tokens |",
             "|---|---|---|---|"]  # fmt: skip
    for mode in MODES:
        proc = subprocess.run([sys.executable, __file__, "--model", args.model, "--mode", mode],
                              capture_output=True, text=True, cwd=ROOT)  # fmt: skip
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{mode} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(line[len("RESULT ") :])
        lines.append(f"| {mode} | {r['graphs']} | {r['seconds']:.1f} | {r['extra_tokens']:.0%} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
