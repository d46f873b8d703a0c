"""The keys of the `data` group every task shares (each task family's schema adds its own: src/tasks/*/config.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from src.utils.schema import key

SPLITS = ("train", "validation", "test")


def _path(value: Any) -> str | None:
    ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    ok |= isinstance(value, dict) and all(isinstance(v, (str, list)) for v in value.values())
    return None if ok else "not a path, a list of files or a {split: files} mapping"


def _splits(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) - set(SPLITS):
        return f"a mapping of {list(SPLITS)} to source split names"
    return None


def _size(value: Any) -> str | None:
    """A fraction of the train split (0 < x < 1) or a number of rows (an integer >= 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    if isinstance(value, float) and not value.is_integer():
        return None if 0 < value < 1 else "a fraction must lie strictly between 0 and 1"
    return None if value >= 1 else "a number of rows must be >= 1"


def _max_samples(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) - set(SPLITS):
        return f"a mapping of {list(SPLITS)} to row counts"
    bad = {k: v for k, v in value.items() if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1)}
    return f"row counts must be integers >= 1 or null (got {bad})" if bad else None


SIZE = "a fraction of train (0 < x < 1) or a number of rows (>= 1)"


def _metric_names(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(str(v).startswith(("test/", "val/")) for v in value.values())
    return None if ok else "a mapping of published names to logged metrics (test/... or val/...)"


@dataclass
class Benchmark:
    """`data.benchmark.*`: how the published results of a public dataset are reported."""

    name: str | None = key(None, "the benchmark's name in published tables, e.g. GLUE MRPC (null: none)")
    metrics: Any = key(
        None,
        help="published metric name -> the logged metric that is it, e.g. {F1: test/equivalent/f1, accuracy: test/acc}",
        check=_metric_names,
        allowed="{<published name>: test/<metric>, ...}",
    )
    scale: float = key(100.0, "the published tables' scale (100: percentages)", gt=0)


@dataclass
class DataConfig:
    """`data.*` keys of every task."""

    path: Any = key(
        help="hub id | local dir (train.*, validation.*, test.*) | a file | {train: a.csv, test: b.csv}",
        check=_path,
        allowed="a hub id, a path, a list of files or a {split: files} mapping",
    )
    subset: str | None = key(None, "hub dataset configuration, e.g. mrpc for nyu-mll/glue")
    revision: str | None = key(None, "hub revision to pin (part of the cache key)")
    splits: Any = key(
        None,
        "which source split plays train/validation/test, e.g. {train: train, test: validation}",
        check=_splits,
        allowed=f"null or a mapping of {list(SPLITS)} to source split names",
    )
    val_size: float = key(0.1, "validation carved from train when the data has none", check=_size, allowed=SIZE)
    test_size: float = key(
        0.1, "test carved from train, only when the data has no test split", check=_size, allowed=SIZE
    )
    max_samples: Any = key(
        help="a seeded subset of a split for quick runs (rows); null = all",
        check=_max_samples,
        factory=lambda: dict.fromkeys(SPLITS),
        allowed="{train: n, validation: n, test: n}",
    )
    max_length: int = key(
        512, "tokens per sequence, special tokens included; longer inputs are cut (and counted)", ge=1
    )
    batch_size: int = key(
        16, "per device; effective batch = batch_size x devices x accumulate_grad_batches", ge=1, rows=False
    )
    eval_batch_size: int | None = key(
        64, "per device in validation and test; null = batch_size", ge=1, rows=False, safe=True
    )
    num_workers: int = key(
        2, "dataloader worker processes (0 = load in the training process)", ge=0, rows=False, safe=True
    )
    group_by_length: bool = key(True, "batch examples of similar length together: much less padding", rows=False)
    shuffle: bool = key(True, "reshuffle training batches every epoch (false: same batches, same order)", rows=False)
    benchmark: Benchmark = key(
        factory=Benchmark,
        help="a public dataset's published metric(s), printed beside the task's own in the run summary",
        safe=True,
        rows=False,
    )
    pad_to_multiple_of: int | None = key(
        None, "e.g. 8 for tensor cores; not needed with model.compile=layers", ge=1, rows=False
    )
