"""Start-up time of a training run (process start -> first training step) against the size of the data.

What a user waits for before a run trains, on a data set whose tokenized cache is already built: imports,
config, loading the cached data, building the batch sampler(s), the model, the sanity validation and the
run report's data figures. Tokenization is excluded on purpose (it is paid once per data set and
tokenizer); the first, untimed run of every variant builds the cache and warms the page cache.

Each tree (a checkout of the template, e.g. an old commit in a git worktree) is run as a user runs it,
`python src/train.py` with the tree as working directory, a tiny BERT and synthetic reviews; a probe
callback (benchmarks/startup_probe.py) stamps the first `on_train_batch_start` and ends the process there.
The time is from just before `subprocess.Popen` to that stamp (wall clock in both processes), the median
of `--repeats` runs. `python -c "import src.train"` is timed separately: the part that does not depend on
the data.

    git worktree add /tmp/before b176a0e
    nice -n 10 python benchmarks/bench_startup.py --sizes 25000 250000 1000000 \\
        --trees before=/tmp/before after=. --out /tmp/startup
    nice -n 10 python benchmarks/bench_startup.py ... --profile after+reports   # + cProfile at the largest size

Reports are off (`callbacks.reports=null`) in the compared columns: they plot the training data, which is
not what the old and new code differ in; the last tree is also measured with them on, since a user waits
for them too.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PHASES = ("init", "setup", "fit_start", "sanity_start", "sanity_end", "train_start", "epoch_start", "first_step")


@dataclass(frozen=True)
class Variant:
    """One column of the table: a tree, with or without the run report callback."""

    tree: str
    path: Path
    reports: bool

    @property
    def name(self) -> str:
        return f"{self.tree}+reports" if self.reports else self.tree


# ------------------------------------------------------------------------------------------------ inputs
def write_reviews(out: Path, rows: int, test_rows: int = 1000, seed: int = 0) -> Path:
    """`rows` synthetic reviews (5-30 words, binary labels) as train.parquet plus a test.parquet.

    Vectorised with numpy rather than `synthetic.sentiment_rows` (a Python loop: minutes for 1M rows); the
    same vocabulary, so the tiny tokenizer (learnt from the demo corpus) knows every word. Short texts keep
    the one-off tokenization of 1M rows at a couple of minutes. Written once: the tokenized cache's key
    includes the files' mtime.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from src.tasks.classification.synthetic import FILLER, NEGATIVE, POSITIVE

    if (out / "test.parquet").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    vocab = np.array([*FILLER, *POSITIVE, *NEGATIVE], dtype=object)
    pos0, neg0 = len(FILLER), len(FILLER) + len(POSITIVE)
    rng = np.random.default_rng(seed)
    for name, n in (("train", rows), ("test", test_rows)):
        labels = rng.integers(0, 2, n)
        fill = rng.integers(4, 26, n)  # filler words, then 1-3 of the label's polarity, fewer of the other
        major = rng.integers(1, 4, n)
        minor = (rng.random(n) * major).astype(np.int64)  # 0 .. major-1
        width = 30
        slot = np.arange(width)[None, :]
        ids = rng.integers(0, len(FILLER), (n, width))
        own = np.where(labels == 1, pos0, neg0)[:, None] + rng.integers(0, len(POSITIVE), (n, width))
        other = np.where(labels == 1, neg0, pos0)[:, None] + rng.integers(0, len(NEGATIVE), (n, width))
        ids = np.where(slot >= fill[:, None], own, ids)
        ids = np.where(slot >= (fill + major)[:, None], other, ids)
        total = fill + major + minor  # 5..30 words
        # shuffle the words of each row: sort random keys, the unused slots (key 2) last
        keys = np.where(slot < total[:, None], rng.random((n, width)), 2.0)
        ids = np.take_along_axis(ids, np.argsort(keys, axis=1), axis=1)
        words = vocab[ids]
        texts = [" ".join(row[:k]) for row, k in zip(words, total.tolist(), strict=True)]
        flip = rng.random(n) < 0.05  # some label noise, as in sentiment_rows
        labels = np.where(flip, 1 - labels, labels)
        pq.write_table(pa.table({"text": texts, "label": labels.astype(np.int64)}), out / f"{name}.parquet")
    return out


def tiny_model(out: Path) -> Path:
    """A tiny random BERT with the demo tokenizer: a plain Hugging Face directory every tree can load."""
    if (out / "config.json").exists():
        return out
    from src.demo.__main__ import demo_corpus
    from src.demo.backbones import build_tiny_backbone

    return build_tiny_backbone("bert", out, demo_corpus())


# ------------------------------------------------------------------------------------------------ running
def child_env() -> dict[str, str]:
    """Offline, the probe importable, and nothing inherited that would point a tree at another's files."""
    env = {k: v for k, v in os.environ.items() if k not in ("PROJECT_ROOT", "ENCODER_FT_CACHE", "PYTHONPATH")}
    env.update(HF_HUB_OFFLINE="1", WANDB_MODE="offline", PYTHONPATH=str(BENCH))
    return env


def overrides(variant: Variant, data: Path, model: Path, cache: Path, run_dir: Path, probe: Path) -> list[str]:
    """The command-line overrides: the same in every tree (the keys exist in both the old and new configs)."""
    args = [
        "model=bert", f"model.pretrained={model}", f"data.path={data}", "data.max_length=64", "data.batch_size=32",
        "data.num_workers=0", "trainer=cpu", "logger=none", "test=false", "export=false", "trainer.max_epochs=1",
        f"paths.cache_dir={cache}", f"hydra.run.dir={run_dir}",
        "+callbacks.probe._target_=startup_probe.FirstStep", f"+callbacks.probe.out={probe}",
    ]  # fmt: skip
    return args if variant.reports else [*args, "callbacks.reports=null"]


def busy_cpu_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_cores: float, max_wait: float) -> float:
    """Wait (up to `max_wait` s) until other processes use less than `max_cores` cores over 2 s; returns what
    they used last. The machine is shared (test suites run beside the benchmark) and on 2 cores another
    process's load doubles a start-up time, so timed runs start when it is quiet."""
    deadline = time.monotonic() + max_wait
    while True:
        before, start = busy_cpu_seconds(), time.monotonic()
        time.sleep(2.0)
        cores = (busy_cpu_seconds() - before) / (time.monotonic() - start)
        if cores < max_cores or time.monotonic() > deadline:
            return cores


def run_to_first_step(cmd: list[str], cwd: Path, probe: Path, log: Path, timeout: float) -> dict:
    """Seconds from just before Popen to the probe's first-step stamp, the phase stamps relative to start, and
    the cores other processes used meanwhile (machine CPU time minus the run's own: contention shows)."""
    probe.unlink(missing_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        busy, own = busy_cpu_seconds(), children_cpu_seconds()
        start = time.time()
        proc = subprocess.Popen(cmd, cwd=cwd, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise SystemExit(f"timed out after {timeout:.0f} s: {' '.join(cmd)} (log: {log})") from None
        wall = time.time() - start
        others = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - own)
    if not probe.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"no first step (exit code {rc}): {' '.join(cmd)}\n--- {log} ---\n{tail}")
    record = json.loads(probe.read_text())
    if not record["src"].startswith(str(cwd.resolve())):
        raise SystemExit(f"{cwd} ran another tree's code: {record['src']}")
    stamps = record["stamps"]
    return {
        "seconds": stamps["first_step"] - start,
        "phases": {k: v - start for k, v in stamps.items()},
        "cpu_s": children_cpu_seconds() - own,
        "other_cores": max(others, 0.0) / wall,
    }


def time_command(cmd: list[str], cwd: Path, repeats: int, quiet: tuple[float, float]) -> float:
    """Median wall time of a short command (imports), after one untimed run that warms the file cache."""
    times = []
    for i in range(repeats + 1):
        if i:
            wait_for_quiet(*quiet)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=child_env(), check=True, capture_output=True)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile_run(variant: Variant, cli: list[str], probe: Path, out: Path, log: Path, timeout: float, top: int) -> str:
    """cProfile of one run to the first step (startup_probe dumps it); the top `top` functions by cumulative
    time go to `<out>.txt`, the whole profile to `<out>.prof` (snakeviz, pstats)."""
    prof = suffixed(out, ".prof")
    cmd = [sys.executable, "-m", "startup_probe", "--profile", str(prof), "src/train.py", *cli]
    result = run_to_first_step(cmd, variant.path, probe, log, timeout)
    text = suffixed(out, ".txt")
    with text.open("w") as stream:
        stream.write(f"{variant.name}: {result['seconds']:.1f} s to the first step under cProfile\n")
        stats = pstats.Stats(str(prof), stream=stream)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top // 2)
    return str(text)


def suffixed(prefix: Path, suffix: str) -> Path:
    """`prefix` + `suffix` (not `with_suffix`: a prefix such as `startup.v2` keeps its dot)."""
    return prefix.with_name(prefix.name + suffix)


# ------------------------------------------------------------------------------------------------ output
def markdown(results: dict, variants: list[Variant]) -> str:
    """The comparison table (first tree / last tree, reports off), imports, and each variant's phases."""
    first, last = variants[0].name, next(v.name for v in reversed(variants) if not v.reports)
    cols = [v.name for v in variants]
    busy = results["busy_cores"]
    head = ["rows", *[f"{c} (s)" for c in cols], f"{first} / {last}"]
    lines = [
        f"Start-up to the first training step, tokenized cache built; median of {results['repeats']} runs, "
        f"{results['cpu']}. Columns without `+reports`: `callbacks.reports=null`. `*`: other processes used more "
        f"than {busy} cores during a timed run.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * len(head),
    ]
    for size, row in results["sizes"].items():
        secs = {c: row[c]["seconds"] for c in cols}
        cells = [f"{secs[c]:.1f}{'*' if row[c]['other_cores_max'] > busy else ''}" for c in cols]
        lines.append(f"| {int(size):,} | " + " | ".join(cells) + f" | {secs[first] / secs[last]:.1f}x |")
    lines += ["", "Beyond imports (start-up minus the tree's `import src.train` time: what depends on the data):", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for size, row in results["sizes"].items():
        rest = {v.name: row[v.name]["seconds"] - results["imports"][v.tree]["import_s"] for v in variants}
        ratio = rest[first] / rest[last] if rest[last] > 0 else float("nan")
        lines.append(f"| {int(size):,} | " + " | ".join(f"{rest[c]:.1f}" for c in cols) + f" | {ratio:.1f}x |")
    lines += [
        "",
        "CPU seconds of the same runs (user + system; what contention on a shared machine does not inflate):",
        "",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for size, row in results["sizes"].items():
        cpu = {c: row[c]["cpu_s"] for c in cols}
        cells = [f"{cpu[c]:.1f}" for c in cols]
        lines.append(f"| {int(size):,} | " + " | ".join(cells) + f" | {cpu[first] / cpu[last]:.1f}x |")
    lines += ["", "Imports (`python -c \"import src.train\"`, median; interpreter alone: "
              f"{results['python_s']:.2f} s):", ""]  # fmt: skip
    lines += [f"- {tree}: {t['import_s']:.1f} s" for tree, t in results["imports"].items()]
    lines += ["", "Phases (seconds since process start, median run), the first (cache-building) run, CPU:", ""]
    head = ["rows", "variant", *PHASES, "first run", "CPU s", "others' cores"]
    lines += ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for size, row in results["sizes"].items():
        for c in cols:
            r = row[c]
            cells = [f"{r['phases'][p]:.1f}" if p in r["phases"] else "-" for p in PHASES]
            cells += [f"{r['first_run_s']:.1f}", f"{r['cpu_s']:.1f}", f"{r['other_cores_max']:.2f}"]
            lines.append(f"| {int(size):,} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ driver
def run_variant(
    v: Variant, size: int, i: int, data: Path, model: Path, work: Path, quiet: tuple, timeout: float
) -> dict:
    """Run `i` of a variant at a size; timed runs (i > 0) start when the machine is quiet."""
    run_dir = work / "runs" / str(size) / f"{v.name}-{i}"
    shutil.rmtree(run_dir, ignore_errors=True)
    probe = run_dir.with_suffix(".probe.json")
    cmd = [sys.executable, "src/train.py", *overrides(v, data, model, work / "cache" / v.tree, run_dir, probe)]
    if i:
        wait_for_quiet(*quiet)
    result = run_to_first_step(cmd, v.path, probe, run_dir.with_suffix(".log"), timeout)
    print(f"{size:>9,} {v.name:<16} run {i}: {result['seconds']:6.1f} s "
          f"(others used {result['other_cores']:.2f} cores)", flush=True)  # fmt: skip
    return result


def load_previous(path: Path, states: dict[str, dict]) -> dict[str, dict]:
    """`--resume`: the measured (size, variant) entries of an earlier invocation whose tree is at the same commit
    with nothing uncommitted then and now (a tree edited meanwhile is measured again). Saves hours at 1M rows."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    same = {
        name
        for name, state in states.items()
        if not state["uncommitted"]
        and old["trees"].get(name, {}).get("commit") == state["commit"]
        and not old["trees"][name].get("uncommitted")
    }
    return {
        size: {name: entry for name, entry in row.items() if name.removesuffix("+reports") in same}
        for size, row in old["sizes"].items()
    }


def tree_state(path: Path) -> dict[str, object]:
    """The commit a tree is at and its uncommitted files: a checkout being edited meanwhile is visible."""
    git = ["git", "-C", str(path)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.splitlines()
    return {"path": str(path), "commit": head or None, "uncommitted": [line[3:] for line in status]}


def parse_trees(specs: list[str]) -> dict[str, Path]:
    trees = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not (Path(path) / "src" / "train.py").exists():
            raise SystemExit(f"--trees: expected name=<checkout with src/train.py>, got {spec!r}")
        trees[name] = Path(path).resolve()
    return trees


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 250_000, 1_000_000], help="train rows")
    parser.add_argument("--trees", nargs="+", default=[f"after={ROOT}"], help="name=path; the first is the baseline")
    parser.add_argument("--reports", nargs="*", help="trees also measured with the reports on (default: the last)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per variant and size (median)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "encoder-ft-startup"),
                        help="data, tiny model, caches, run dirs (kept between invocations)")  # fmt: skip
    parser.add_argument("--out", default=None, help="prefix of the .md/.json outputs (default: <work>/startup)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument(
        "--profile", metavar="VARIANT", help="cProfile this variant (e.g. after+reports) at the largest size"
    )
    parser.add_argument("--busy-cores", type=float, default=0.3,
                        help="timed runs wait until other processes use fewer cores than this")  # fmt: skip
    parser.add_argument("--quiet-wait", type=float, default=300, help="...for at most this many seconds")
    parser.add_argument(
        "--resume", action="store_true", help="keep entries of --out's .json measured on the same commits"
    )
    parser.add_argument("--fresh-cache", action="store_true", help="delete the tokenized caches first")
    args = parser.parse_args()

    trees = parse_trees(args.trees)
    reports = set(args.reports if args.reports is not None else [list(trees)[-1]])
    variants = [Variant(n, p, False) for n, p in trees.items()]
    variants += [Variant(n, p, True) for n, p in trees.items() if n in reports]
    if args.profile and args.profile not in {v.name for v in variants}:
        raise SystemExit(f"--profile: one of {[v.name for v in variants]}")
    work = Path(args.work).resolve()
    out = Path(args.out) if args.out else work / "startup"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.fresh_cache:
        shutil.rmtree(work / "cache", ignore_errors=True)
    sys.path.insert(0, str(ROOT))  # src.demo / src.tasks of this tree build the inputs
    model = tiny_model(work / "tiny-bert")

    quiet = (args.busy_cores, args.quiet_wait)
    python_s = time_command([sys.executable, "-c", "pass"], ROOT, 3, quiet)
    imports = {
        n: {"import_s": time_command([sys.executable, "-c", "import src.train"], p, 3, quiet)} for n, p in trees.items()
    }
    print(f"imports: {imports} (interpreter alone {python_s:.2f} s)", flush=True)

    states = {n: tree_state(p) for n, p in trees.items()}
    previous = load_previous(suffixed(out, ".json"), states) if args.resume else {}
    results: dict = {
        "repeats": args.repeats, "cpu": f"{os.cpu_count()} CPU cores", "busy_cores": args.busy_cores,
        "python_s": python_s, "imports": imports, "trees": states, "sizes": {},
    }  # fmt: skip
    for size in args.sizes:
        data = write_reviews(work / "data" / str(size), size)
        row = results["sizes"][str(size)] = {}
        for v in variants:
            if v.name in previous.get(str(size), {}):
                row[v.name] = previous[str(size)][v.name]
                print(f"{size:>9,} {v.name:<16} kept from {suffixed(out, '.json')}", flush=True)
                continue
            runs = [
                run_variant(v, size, i, data, model, work, quiet, args.timeout) for i in range(args.repeats + 1)
            ]  # run 0 builds the cache (if needed) and is not timed
            first, timed = runs[0], runs[1:]
            mid = sorted(timed, key=lambda r: r["seconds"])[(len(timed) - 1) // 2]  # (lower) median run's phases
            row[v.name] = {
                "seconds": statistics.median(r["seconds"] for r in timed), "runs": [r["seconds"] for r in timed],
                "phases": mid["phases"], "cpu_s": mid["cpu_s"], "first_run_s": first["seconds"],
                "other_cores_max": max(r["other_cores"] for r in timed), "commit": states[v.tree]["commit"],
            }  # fmt: skip
            suffixed(out, ".json").write_text(json.dumps(results, indent=2))  # partial results survive a failure

    if args.profile:
        v, size = next(v for v in variants if v.name == args.profile), max(args.sizes)
        run_dir = work / "runs" / str(size) / f"profile-{v.name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        probe = run_dir.with_suffix(".probe.json")
        cli = overrides(v, work / "data" / str(size), model, work / "cache" / v.tree, run_dir, probe)
        log = run_dir.with_suffix(".log")
        results["profile"] = profile_run(v, cli, probe, suffixed(out, "-profile"), log, args.timeout, top=80)
        print(f"profile: {results['profile']}")

    text = markdown(results, variants)
    suffixed(out, ".md").write_text(text)
    suffixed(out, ".json").write_text(json.dumps(results, indent=2))
    print(text)
    print(f"wrote {suffixed(out, '.md')} and {suffixed(out, '.json')}")


if __name__ == "__main__":
    main()
