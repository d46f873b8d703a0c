"""Raw data sources: local dirs, files, split mappings, hub ids offline."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from src.data.sources import load_raw, source_identity
from src.utils.hub import looks_like_hub_id


def test_directory_splits_are_discovered_like_datasets_does(tmp_path: Path) -> None:
    for name in ("train", "dev", "test"):
        pd.DataFrame({"text": [name], "label": [0]}).to_json(tmp_path / f"{name}.jsonl", orient="records", lines=True)
    (tmp_path / "raw").mkdir()
    pd.DataFrame({"text": ["ignored"], "label": [0]}).to_csv(tmp_path / "raw" / "train.csv")  # deeper: ignored
    raw = load_raw(str(tmp_path))
    assert sorted(raw.splits) == ["test", "train", "validation"]
    assert raw.splits["validation"][0]["text"] == "dev"
    assert raw.where("train").endswith("train.jsonl)")


def test_tsv_and_globs(tmp_path: Path) -> None:
    for i in range(2):
        pd.DataFrame({"text": [f"t{i}"], "label": [i]}).to_csv(tmp_path / f"part{i}.tsv", sep="\t", index=False)
    raw = load_raw({"train": str(tmp_path / "part*.tsv")})
    assert raw.splits["train"]["text"] == ["t0", "t1"]


def test_missing_local_path_names_key_and_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data.path='\./nope/train.csv' does not exist. Fix"):
        load_raw("./nope/train.csv")
    with pytest.raises(FileNotFoundError, match=r"data\.path\.test: no file matches"):
        load_raw({"test": str(tmp_path / "missing.parquet")})


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "train.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises((ValueError, OSError), match=r"train\.parquet"):
        load_raw(str(bad))


def test_hub_dataset_not_cached_offline_fails_in_seconds() -> None:
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"Dataset data.path='someone/no-such-dataset'.*Fix: pass data.path="):
        load_raw("someone/no-such-dataset")
    assert time.monotonic() - start < 15


def test_source_identity_tracks_files_not_names(tmp_path: Path) -> None:
    f = tmp_path / "train.csv"
    f.write_text("text,label\na,0\n")
    first = source_identity(str(f), None, [".csv"])
    f.write_text("text,label\nb,1\n")
    assert source_identity(str(f), None, [".csv"]) != first
    assert source_identity("stanfordnlp/imdb", "abc", [".csv"]) == {"hub": "stanfordnlp/imdb", "revision": "abc"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("distilbert-base-uncased", True), ("stanfordnlp/imdb", True), ("./imdb", False), ("/data/x", False),
     ("data/train.csv", False), ("a/b/c", False)],
)  # fmt: skip
def test_hub_id_detection(value: str, expected: bool) -> None:
    assert looks_like_hub_id(value) is expected
