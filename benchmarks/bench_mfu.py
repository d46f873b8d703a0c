"""The machine's attainable matmul FLOP/s: large square GEMMs timed on this device, the peak MFU is measured against.

A vendor's datasheet peak is not what a CPU reaches (clock under AVX-512/AMX load, memory bandwidth, the BLAS
kernel): the denominator of a CPU MFU is measured instead, the same way a GPU's is looked up. For each dtype
(fp32, bf16) and size n, `torch.mm` of two n x n matrices into a preallocated output is timed after a warm-up;
the best of `--repeats` calls gives 2 n^3 / seconds. The attainable peak of a dtype is its best size.
bench_train.py and bench_predict.py read the result (`--mfu-json`, default docs/bench_mfu.json) and report MFU
against the peak of their precision.

    python benchmarks/bench_mfu.py --threads 2 --out docs/bench_mfu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def gemm_tflops(n: int, dtype: str, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Best and median TFLOP/s of an n x n x n matmul of `dtype` (2 n^3 FLOPs per call)."""
    import torch

    g = torch.Generator().manual_seed(n)
    a, b = (torch.randn(n, n, generator=g).to(getattr(torch, DTYPES[dtype])) for _ in range(2))
    out = torch.empty_like(a)
    for _ in range(warmup):
        torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    times.sort()
    flops = 2.0 * n**3
    return {"tflops": flops / times[0] / 1e12, "tflops_median": flops / times[len(times) // 2] / 1e12,
            "best_s": times[0]}  # fmt: skip


def measured_peak(path: str | Path, kind: str) -> float | None:
    """Attainable TFLOP/s of `kind` (fp32 or bf16) from a bench_mfu.py json (None when it is missing or lacks it)."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("peak_tflops", {}).get(kind)


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (platform's answer elsewhere)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on a shared machine lowers what is measured."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(sizes: list[int], dtypes: list[str], repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for dtype in dtypes:
        for n in sizes:
            results.setdefault(dtype, {})[str(n)] = r = gemm_tflops(n, dtype, repeats)
            print(f"{dtype} {n:5d}: {r['tflops']:.3f} TFLOP/s best, {r['tflops_median']:.3f} median", flush=True)
    return results


def markdown(setting: dict, results: dict, peaks: dict[str, float]) -> str:
    sizes = list(next(iter(results.values())))
    lines = [*(f"- {k}: {v}" for k, v in setting.items()), "",
             "| dtype | " + " | ".join(f"n={n}: TFLOP/s best (median)" for n in sizes) + " | attainable peak |",
             "|---|" + "---|" * (len(sizes) + 1)]  # fmt: skip
    for dtype, per_size in results.items():
        cells = [f"{per_size[n]['tflops']:.3f} ({per_size[n]['tflops_median']:.3f})" for n in sizes]
        lines.append(f"| {dtype} | " + " | ".join(cells) + f" | **{peaks[dtype]:.3f}** |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 3072, 4096])
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per size (the best one counts)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench_mfu"), help="prefix of the .json/.md outputs")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    before = load_average()
    results = measure(args.sizes, args.dtypes, args.repeats)
    peaks = {dtype: max(r["tflops"] for r in per_size.values()) for dtype, per_size in results.items()}
    setting = {
        "cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "repeats": args.repeats, "load average (1/5/15 min) before": before, "after": load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }  # fmt: skip
    md = markdown(setting, results, peaks)
    print("\n" + md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(json.dumps({"setting": setting, "peak_tflops": peaks, "results": results},
                                                   indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
