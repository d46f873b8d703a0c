"""Where raw datasets come from: a hub id, a local directory, a file, or a {split: files} mapping.

Every split remembers the files it was read from, so validation errors can name the file and the row.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict
from datasets.exceptions import DatasetGenerationError

from src.data.files import diagnose
from src.utils.errors import ConfigError, DataError, MissingError
from src.utils.hub import ensure_hub_or_offline, looks_like_hub_id, missing_resource_message

# file suffix -> (datasets builder, extra builder kwargs)
BUILDERS: dict[str, tuple[str, dict]] = {
    ".parquet": ("parquet", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
}
# a reader turns one local file into a Dataset (the NER task adds one for CoNLL text files)
Reader = Callable[[Path], Dataset]
SPLIT_ALIASES = {"valid": "validation", "val": "validation", "dev": "validation", "eval": "test"}


@dataclass
class RawData:
    """The loaded splits and, for each split, a human-readable origin used in error messages."""

    splits: DatasetDict
    origins: dict[str, str] = field(default_factory=dict)

    def where(self, split: str) -> str:
        return f"split '{split}' ({self.origins.get(split, '?')})"


def source_identity(
    path: str | Mapping | Sequence, revision: str | None, suffixes: Sequence[str], subset: str | None = None
) -> dict:
    """What identifies the data without loading it: file paths with size and mtime, or hub id and revision."""
    files = _local_files(path, suffixes)
    if files is None:
        return {"hub": str(path), "revision": revision, **({"subset": subset} if subset else {})}
    return {
        split: [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in paths]
        for split, paths in sorted(files.items())
    }


def load_raw(
    path: str | Mapping | Sequence,
    *,
    revision: str | None = None,
    readers: Mapping[str, Reader] | None = None,
    key: str = "data.path",
    subset: str | None = None,
) -> RawData:
    """Load every split of `path` (`subset`: the hub dataset's configuration, e.g. GLUE's "mrpc"); a path
    that is neither local nor on the hub fails with the fix."""
    readers = dict(readers or {})
    files = _local_files(path, [*BUILDERS, *readers])
    if files is None:
        return _load_hub(str(path), revision, key, subset)
    splits, origins = {}, {}
    for split, paths in files.items():
        splits[split] = _read_files(paths, readers)
        origins[split] = ", ".join(str(p) for p in paths)
    return RawData(DatasetDict(splits), origins)


def _local_files(path: str | Mapping | Sequence, suffixes: Sequence[str]) -> dict[str, list[Path]] | None:
    """{split: files} for local data, None for a hub id. Raises if a local-looking path does not exist."""
    if isinstance(path, Mapping):
        return {_split_name(str(s)): _expand(v, f"data.path.{s}") for s, v in path.items()}
    if not isinstance(path, str):  # a list of files: all of them are the train split
        return {"train": _expand(list(path), "data.path")}
    if os.path.isdir(path):
        return _discover(Path(path).resolve(), suffixes)
    if os.path.exists(path) or glob.has_magic(path):
        return {"train": _expand(path, "data.path")}
    if looks_like_hub_id(path):
        return None
    raise MissingError(
        f"data.path={path!r} does not exist. Fix: pass an existing directory, a file "
        f"({', '.join(sorted(suffixes))}), a mapping such as data.path='{{train: a.csv, test: b.csv}}', "
        "or a Hugging Face dataset id."
    )


def _expand(value: str | Sequence[str], key: str) -> list[Path]:
    patterns = [value] if isinstance(value, str) else list(value)
    out: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(str(pattern)))) or []
        if not matches:
            raise MissingError(f"{key}: no file matches {pattern!r}. Fix: check the path.")
        out += [Path(m) for m in matches]
    return out


def _split_name(name: str) -> str:
    return SPLIT_ALIASES.get(name, name)


def _discover(root: Path, suffixes: Sequence[str]) -> dict[str, list[Path]]:
    """Split files in a directory, named as `datasets` names them (train*, valid*/dev*, test*)."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        found = DataFilesDict.from_patterns(get_data_patterns(str(root)), base_path=str(root))
    except Exception as err:  # EmptyDatasetError and friends
        raise MissingError(
            f"data.path={str(root)!r}: no split files found ({err}). Fix: name files train.*, validation.*, "
            "test.* or pass data.path='{train: ..., test: ...}'."
        ) from None
    out: dict[str, list[Path]] = {}
    for split, names in found.items():
        paths = [Path(n) for n in names if Path(n).suffix.lower() in suffixes]
        if not paths:
            continue
        # prefer the shallowest files: data/imdb/train.parquet over data/imdb/raw/train.txt
        depth = min(len(p.relative_to(root).parts) for p in paths)
        out[str(split)] = sorted(p for p in paths if len(p.relative_to(root).parts) == depth)
    if not out:
        raise MissingError(f"data.path={str(root)!r} holds no {'/'.join(sorted(suffixes))} files named after a split.")
    return out


def _read_files(paths: list[Path], readers: Mapping[str, Reader]) -> Dataset:
    suffixes = {p.suffix.lower() for p in paths}
    if len(suffixes) > 1:
        raise ConfigError(f"One split mixes file formats {sorted(suffixes)}: {[str(p) for p in paths]}.")
    suffix = suffixes.pop()
    if suffix in BUILDERS and suffix not in readers:
        return _load_files(paths, *BUILDERS[suffix])
    if suffix not in readers:
        raise ConfigError(f"{paths[0]}: unsupported file type {suffix!r}; use one of {sorted([*BUILDERS, *readers])}")
    try:
        parts = [readers[suffix](p) for p in paths]
    except (ConfigError, DataError):
        raise
    except Exception as err:  # parser errors come in many types
        raise DataError(f"Could not read {', '.join(map(str, paths))}: {err}") from err
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _load_files(paths: list[Path], builder: str, kwargs: dict) -> Dataset:
    """`datasets` reads good files fast but names no line in bad ones, so only after it fails (or finds no
    rows) is each file read line by line to raise an error naming the file, the line and the fix."""
    names, delimiter = ", ".join(map(str, paths)), kwargs.get("delimiter", ",")
    try:
        loaded = datasets.load_dataset(builder, data_files=[str(p) for p in paths], split="train", **kwargs)
        if builder == "json":  # pyarrow's JSON reader keeps bytes that are not UTF-8; they would fail mid-training
            loaded.data.table.validate(full=True)
    except Exception as err:  # parser errors of pyarrow/pandas/json come in many types
        for path in paths:
            diagnose(path, delimiter)
        raise DataError(f"Could not read {names}: {_reason(err)}") from err
    if not len(loaded):
        for path in paths:
            diagnose(path, delimiter)
        raise DataError(
            f"{names}: the split holds no rows. Fix: give it files with rows, or leave it out of data.path."
        )
    return loaded


def _reason(err: Exception) -> str:
    """The parser's own message: DatasetGenerationError only says "An error occurred while generating the dataset"."""
    cause = err.__cause__ if isinstance(err, DatasetGenerationError) and err.__cause__ else err
    return f"{cause}" or type(cause).__name__


def _load_hub(name: str, revision: str | None, key: str, subset: str | None = None) -> RawData:
    ensure_hub_or_offline()
    try:
        loaded = datasets.load_dataset(name, subset, revision=revision)
    except (ConnectionError, FileNotFoundError, OSError) as err:
        raise MissingError(
            missing_resource_message("Dataset", key, name, "../shared/data/imdb") + f" [{type(err).__name__}]"
        ) from None
    splits = DatasetDict({_split_name(s): d for s, d in loaded.items()})
    return RawData(splits, {s: f"hub {name}" for s in splits})
