"""Raw data sources: local dirs, files, split mappings, hub ids offline; bad files named down to the line."""

from __future__ import annotations

import time
from pathlib import Path

import datasets
import pandas as pd
import pytest
from datasets.exceptions import DatasetGenerationError

from src.data.sources import load_raw, source_identity
from src.utils.errors import DataError
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


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


UTF8_FIX = r"Fix: re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 "
JSONL_FIX = r"Fix: write one JSON object per line"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin.csv", "text,label\ngood,1\ncaf\xe9,0\n".encode("latin-1"),
         r"latin\.csv:3: not valid UTF-8 \(byte 0xe9 at column 4\)\. " + UTF8_FIX + r"latin\.csv > fixed\.csv"),
        ("latin.jsonl", '{"text": "a", "label": 0}\n{"text": "caf\xe9", "label": 1}\n'.encode("latin-1"),
         r"latin\.jsonl:2: not valid UTF-8 \(byte 0xe9 at column 14\)\. " + UTF8_FIX + r"latin\.jsonl"),
        ("broken.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": 1\n{"text": "c", "label": 0}\n',
         r"broken\.jsonl:2: malformed JSON \(Expecting ',' delimiter at column 25\)\. " + JSONL_FIX),
        ("array.jsonl", '{"text": "a", "label": 0}\n\n["b", 1]\n',
         r"array\.jsonl:3: an array, not a JSON object with named fields\. " + JSONL_FIX),
        ("empty.csv", "", r"empty\.csv: holds no rows: the file is empty\. Fix: write a header line"),
        ("header.csv", "text,label\n", r"header\.csv: holds no rows, only the header line 'text,label'\. Fix: add"),
        ("empty.jsonl", "\n\n", r"empty\.jsonl: holds no rows: the file is empty\. " + JSONL_FIX),
        ("unclosed.csv", 'text,label\n"two\nlines",1\n"never closed,0\nnext,1\n',
         r"unclosed\.csv:4: malformed CSV \(unexpected end of data\) in the row starting on this line\. Fix"),
        ("ragged.csv", "text,label\na,0\nb, c,1\n",
         r"ragged\.csv:3: 3 fields, but the header line 'text,label' names 2\. Fix: wrap fields that contain commas"),
        ("doc.json", '[{"text": "a"},\n {"text": "b" "label": 1}]\n',
         r"doc\.json:2: malformed JSON \(Expecting ',' delimiter at column 15\)\. Fix"),
        ("empty.parquet", b"", r"empty\.parquet: holds no rows: the file is empty\. Fix"),
    ],
)  # fmt: skip
def test_bad_training_files_name_file_line_and_fix(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=message) as err:
        load_raw({"train": str(path)})
    assert str(err.value).startswith(str(path))


def test_good_files_are_not_read_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line-by-line diagnosis runs only after `datasets` failed, never on the fast path."""

    def unexpected(*_: object) -> None:
        raise AssertionError("diagnosed a good file")

    monkeypatch.setattr("src.data.sources.diagnose", unexpected)
    write(tmp_path / "train.csv", 'text,label\n"a, b",1\n')
    write(tmp_path / "test.jsonl", '{"text": "caf\u00e9", "label": 0}\n')
    raw = load_raw(str(tmp_path))
    assert raw.splits["train"]["text"] == ["a, b"] and raw.splits["test"]["text"] == ["caf\u00e9"]


def test_zero_rows_and_undiagnosed_failures_name_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "train.csv", "text,label\na,1\n")  # a good file: the diagnosis finds nothing
    monkeypatch.setattr(datasets, "load_dataset", lambda *_, **__: datasets.Dataset.from_dict({"text": []}))
    with pytest.raises(DataError, match=r"train\.csv: the split holds no rows\. Fix"):
        load_raw(str(path))

    def fail(*_: object, **__: object) -> None:
        raise DatasetGenerationError("An error occurred while generating the dataset") from OSError("disk hiccup")

    monkeypatch.setattr(datasets, "load_dataset", fail)
    with pytest.raises(DataError, match=r"Could not read .*train\.csv: disk hiccup$"):
        load_raw(str(path))


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
