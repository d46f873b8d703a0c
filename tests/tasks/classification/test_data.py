"""Sentiment data: validation errors name split/file/row/value, tokenization cache, truncation, splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from src.data.sequences import special_framing, truncate
from src.tasks.classification.data import ClassificationDataModule
from tests.conftest import data_config


def data_cfg(path: object, **overrides: object) -> dict:
    return data_config("classification", "imdb", **{"path": path, "max_length": 128, "num_workers": 0, **overrides})


def datamodule(path: object, model_dir: Path, tmp_path: Path, **overrides: object) -> ClassificationDataModule:
    dm = ClassificationDataModule(data_cfg(path, **overrides), tokenizer=str(model_dir), cache_dir=str(tmp_path / "c"))
    dm.prepare_data()
    dm.setup("fit")
    return dm


def write_csv(tmp_path: Path, rows: list[dict], name: str = "train.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


GOOD = [{"text": f"great fun movie number {i}", "label": i % 2} for i in range(40)]


def test_local_dir_splits_labels_and_stratified_validation(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    dm = datamodule(str(sentiment_dir), tiny["bert"], tmp_path)
    assert dm.label_names == ["neg", "pos"]
    sizes = {k: len(v) for k, v in dm.splits.items()}
    assert sizes == {"train": 540, "validation": 60, "test": 200}  # val_size=0.1 carved from 600
    train_share = Counter(dm.splits["train"]["labels"])[1] / 540
    val_share = Counter(dm.splits["validation"]["labels"])[1] / 60
    assert abs(train_share - val_share) < 0.02  # stratified
    first = dm.splits["train"][0]
    assert first["input_ids"][0] == dm.tokenizer.cls_token_id and first["input_ids"][-1] == dm.tokenizer.sep_token_id


def test_max_samples_subsamples_each_split(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    limits = {"train": 100, "validation": 20, "test": 50}
    dm = datamodule(str(sentiment_dir), tiny["bert"], tmp_path, max_samples=limits)
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 100, "validation": 20, "test": 50}


def test_mapping_of_files_and_string_labels(tiny: dict, tmp_path: Path) -> None:
    rows = [{"review": r["text"], "sentiment": ["negative", "positive"][r["label"]]} for r in GOOD]
    train, test = write_csv(tmp_path, rows), write_csv(tmp_path, rows[:10], "held_out.csv")
    dm = datamodule({"train": str(train), "test": str(test)}, tiny["bert"], tmp_path,
                    text_column="review", label_column="sentiment", label_names=None)  # fmt: skip
    assert dm.label_names == ["negative", "positive"]
    assert len(dm.splits["test"]) == 10


def test_single_file_carves_validation_and_test(tiny: dict, tmp_path: Path) -> None:
    dm = datamodule(str(write_csv(tmp_path, GOOD * 5)), tiny["bert"], tmp_path)
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 160, "validation": 20, "test": 20}


@pytest.mark.parametrize(
    ("rows", "overrides", "expected"),
    [
        ([{"body": "x", "label": 0}], {}, ["'text' not found", "columns are ['body', 'label']", "data.text_column"]),
        ([{"text": "x", "stars": 0}], {}, ["'label' not found", "data.label_column"]),
        (
            [*GOOD[:3], {"text": "   ", "label": 1}],
            {},
            ["empty or missing text in column 'text': row 3 (1 in all)", "train.csv"],
        ),
        ([*GOOD[:5], {"text": "ok", "label": 2}], {}, ["label 2 is not one of ['neg', 'pos']: row 5"]),
        (
            [{"text": "a", "label": "pos"}, {"text": "b", "label": "positve"}],
            {"label_names": ["neg", "pos"]},
            ["label 'positve' is not one of ['neg', 'pos']: row 1 (1 in all)"],
        ),
    ],
    ids=["no-text-column", "no-label-column", "empty-text", "label-out-of-range", "unknown-label-name"],
)
def test_bad_input_is_rejected_with_row_and_fix(
    rows: list[dict], overrides: dict, expected: list[str], tiny: dict, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, rows)
    dm = ClassificationDataModule(
        data_cfg(str(path), **overrides), tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path)
    )
    with pytest.raises((KeyError, ValueError)) as err:
        dm.prepare_data()
    for text in expected:
        assert text in str(err.value)
    assert "split 'train'" in str(err.value) or "Fix" in str(err.value)


def test_bad_rows_in_test_split_are_named(tiny: dict, tmp_path: Path) -> None:
    write_csv(tmp_path, GOOD)
    write_csv(tmp_path, [*GOOD[:2], {"text": None, "label": 1}], "test.csv")
    dm = ClassificationDataModule(data_cfg(str(tmp_path)), tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "c"))
    with pytest.raises(
        ValueError, match=r"split 'test' \(.*test.csv\).*\n.*empty or missing text in column 'text': row 2"
    ):
        dm.prepare_data()


def test_unknown_config_key_is_rejected(tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"Unknown config key.*data\.text_colum"):
        ClassificationDataModule(data_cfg("x", text_colum="t"), tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path))


def test_truncated_rows_are_counted_and_cut_as_configured(tiny: dict, tmp_path: Path) -> None:
    rows = [{"text": " ".join(["good"] * 40 + ["bad"] * 40), "label": 1}] * 20 + GOOD
    path = write_csv(tmp_path, rows)
    for mode, kept in (("head", {"good"}), ("tail", {"bad"}), ("head+tail", {"good", "bad"})):
        dm = datamodule(str(path), tiny["bert"], tmp_path, max_length=32, truncation=mode, head_tokens=10,
                        val_size=2, test_size=2)  # fmt: skip
        stats = dm.meta["splits"]
        assert sum(s["truncated"] for s in stats.values()) == 20
        long = next(r for r in dm.splits["train"] if r["length"] == 32)
        assert set(dm.tokenizer.convert_ids_to_tokens(long["input_ids"][1:-1])) == kept


def test_truncate_and_special_framing(tiny: dict) -> None:
    ids = list(range(10))
    assert truncate(ids, 4, "head") == [0, 1, 2, 3]
    assert truncate(ids, 4, "tail") == [6, 7, 8, 9]
    assert truncate(ids, 4, "head+tail", head_tokens=1) == [0, 7, 8, 9]
    assert truncate(ids, 20, "head") == ids
    from transformers import AutoTokenizer

    bert, roberta = (AutoTokenizer.from_pretrained(tiny[k]) for k in ("bert", "roberta"))
    assert special_framing(bert) == ([bert.cls_token_id], [bert.sep_token_id])
    assert special_framing(roberta) == ([roberta.bos_token_id], [roberta.eos_token_id])


def test_cache_is_reused_and_keyed_by_tokenizer(tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch) -> None:
    first = datamodule(str(sentiment_dir), tiny["bert"], tmp_path)
    calls = []
    monkeypatch.setattr(ClassificationDataModule, "tokenize", lambda self, *a: calls.append(a) or 1 / 0)
    again = datamodule(str(sentiment_dir), tiny["bert"], tmp_path)  # would raise if it re-tokenized
    assert calls == [] and again.cache_path == first.cache_path
    assert again.splits["train"]["input_ids"] == first.splits["train"]["input_ids"]
    monkeypatch.undo()

    other = datamodule(str(sentiment_dir), tiny["roberta"], tmp_path)
    assert other.cache_path != first.cache_path
    assert other.splits["train"][0]["input_ids"] != first.splits["train"][0]["input_ids"]
    assert other.splits["train"][0]["input_ids"][0] == other.tokenizer.bos_token_id
    assert datamodule(str(sentiment_dir), tiny["bert"], tmp_path, max_length=64).cache_path != first.cache_path


def test_cache_key_follows_file_changes(tiny: dict, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD)
    before = datamodule(str(path), tiny["bert"], tmp_path).cache_path
    write_csv(tmp_path, GOOD[::-1])
    assert datamodule(str(path), tiny["bert"], tmp_path).cache_path != before


def test_balanced_class_weights(tiny: dict, tmp_path: Path) -> None:
    rows = [{"text": "good", "label": 1}] * 30 + [{"text": "bad", "label": 0}] * 10
    dm = datamodule(str(write_csv(tmp_path, rows)), tiny["bert"], tmp_path, val_size=4, test_size=4)
    neg, pos = dm.class_weights("balanced")
    assert neg == pytest.approx(3 * pos, rel=0.01)  # 3x fewer negatives -> 3x the weight
    assert dm.class_weights([1.0, 2.0]) == [1.0, 2.0]
    with pytest.raises(ValueError, match="has 3 values"):
        dm.class_weights([1.0, 2.0, 3.0])
