"""Classification shapes from the user's own files: pairs, multi-label (three label layouts), regression,
multi-class names read from the data; each with its bad-input error (file, row, fix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.tasks.classification.data import MULTI, REGRESSION, SINGLE, ClassificationDataModule
from tests.conftest import data_config, no_lazy_columns

TOPICS = ["sports", "food", "tech"]


def prepared(rows: list[dict], tmp_path: Path, model_dir: Path, **overrides: object) -> ClassificationDataModule:
    path = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    settings = {"max_length": 64, "num_workers": 0, "label_names": None, "val_size": 4, "test_size": 4, **overrides}
    cfg = data_config("classification", "imdb", path=str(path), **settings)
    dm = ClassificationDataModule(cfg, tokenizer=str(model_dir), cache_dir=str(tmp_path / "cache"))
    with no_lazy_columns():  # validation and tokenization read whole columns, never element by element
        dm.prepare_data()
        dm.setup("fit")
    return dm


def rows_of(n: int, label: callable) -> list[dict]:
    return [{"text": f"the match and the pasta number {i}", **label(i)} for i in range(n)]


def test_a_users_own_classes_are_read_from_the_data(tiny: dict, tmp_path: Path) -> None:
    dm = prepared(rows_of(40, lambda i: {"label": TOPICS[i % 3]}), tmp_path, tiny["bert"])
    assert dm.label_names == sorted(TOPICS) and dm.info["problem_type"] == SINGLE


def test_imdbs_label_names_do_not_leak_into_a_users_file(tiny: dict, tmp_path: Path) -> None:
    """data.label_names=[neg, pos] (the IMDB default) against a 3-topic file: the error points at that key."""
    with pytest.raises(ValueError, match=r"(?s)label 'food' is not one of \['neg', 'pos'\].*data\.label_names=null"):
        prepared(rows_of(40, lambda i: {"label": TOPICS[i % 3]}), tmp_path, tiny["bert"], label_names=["neg", "pos"])


def test_sentence_pairs_get_token_types_and_longest_first_truncation(tiny: dict, tmp_path: Path) -> None:
    rows = [{"text": "the film", "hyp": " ".join(["good"] * 80), "label": i % 2} for i in range(20)]
    dm = prepared(rows, tmp_path, tiny["bert"], text_pair_column="hyp", max_length=32)
    row = dm.splits["train"][0]
    assert len(row["input_ids"]) == 32 and row["truncated"]  # the longer member was cut, the short one kept
    tokens = dm.tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert tokens[:4] == ["[CLS]", "the", "film", "[SEP]"] and tokens[-1] == "[SEP]"
    assert row["token_type_ids"][:4] == [0] * 4 and set(row["token_type_ids"][4:]) == {1}
    assert "token_type_ids" in dm.batch_columns() and dm.model_args()["text_pair"] is True


@pytest.mark.parametrize(
    ("layout", "overrides"),
    [
        ("columns", {"label_column": TOPICS}),
        ("delimited", {"label_column": "labels", "label_delimiter": ","}),
        ("list", {"label_column": "labels"}),
    ],
)
def test_multi_label_layouts_give_the_same_vectors(layout: str, overrides: dict, tiny: dict, tmp_path: Path) -> None:
    def labels(i: int) -> dict:
        chosen = [t for k, t in enumerate(TOPICS) if (i >> k) & 1]
        if layout == "columns":
            return {t: int(t in chosen) for t in TOPICS}
        return {"labels": ",".join(chosen) if layout == "delimited" else chosen}

    rows = rows_of(40, labels)
    if layout == "list":  # CSV cannot hold lists: Parquet can
        path = tmp_path / "train.parquet"
        pd.DataFrame(rows).to_parquet(path)
        cfg = data_config("classification", "imdb", path=str(path), max_length=64, num_workers=0, label_names=None,
                          val_size=4, test_size=4, **overrides)  # fmt: skip
        dm = ClassificationDataModule(cfg, tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "cache"))
        dm.prepare_data()
        dm.setup("fit")
    else:
        dm = prepared(rows, tmp_path, tiny["bert"], **overrides)
    assert dm.info["problem_type"] == MULTI
    names = dm.label_names
    vectors = np.asarray(dm.splits["test"]["labels"])
    texts = dm.splits["test"]["text"]
    for text, vector in zip(texts, vectors, strict=True):
        i = int(text.rsplit(" ", 1)[1])
        assert {names[k] for k in np.flatnonzero(vector)} == {t for k, t in enumerate(TOPICS) if (i >> k) & 1}


def test_multi_label_bad_values_are_named(tiny: dict, tmp_path: Path) -> None:
    rows = rows_of(20, lambda i: {t: int(i % 2) for t in TOPICS})
    rows[3]["food"] = 2
    with pytest.raises(ValueError, match=r"column 'food' must be 0 or 1: row 3 \(2\)"):
        prepared(rows, tmp_path, tiny["bert"], label_column=TOPICS)
    with pytest.raises(KeyError, match=r"holds strings such as .* Fix: data.label_delimiter=','"):
        rows = rows_of(20, lambda i: {"labels": "food,tech"})
        prepared(rows, tmp_path, tiny["bert"], label_column="labels", problem_type="multi_label")


def test_regression_targets_and_their_normalisation(tiny: dict, tmp_path: Path) -> None:
    dm = prepared(rows_of(40, lambda i: {"score": 1.0 + (i % 9) / 2}), tmp_path, tiny["bert"], label_column="score")
    assert dm.info["problem_type"] == REGRESSION and dm.label_names == ["score"]  # inferred: non-integer floats
    targets = np.asarray(dm.splits["train"]["labels"])
    assert dm.info["target_mean"] == pytest.approx(targets.mean()) and dm.info["target_std"] == pytest.approx(
        targets.std()
    )
    bad = rows_of(20, lambda i: {"score": 0.5 * i})
    bad[5]["score"] = "high"
    with pytest.raises(ValueError, match=r"target is not a finite number: row 5 \('high'\)"):
        prepared(bad, tmp_path, tiny["bert"], label_column="score", problem_type="regression")


def test_missing_labels_and_a_single_class_are_refused(tiny: dict, tmp_path: Path) -> None:
    rows = rows_of(20, lambda i: {"label": i % 2})
    rows[7]["label"] = None  # a blank cell: pandas reads NaN and the column becomes float
    with pytest.raises(ValueError, match=r"missing label \(empty or NaN\): row 7 \(1 in all\)"):
        prepared(rows, tmp_path, tiny["bert"])
    with pytest.raises(ValueError, match=r"holds a single class \['pos'\]: a classifier cannot learn from it"):
        prepared(rows_of(20, lambda i: {"label": "pos"}), tmp_path, tiny["bert"])


def test_pair_models_need_pairs_at_prediction() -> None:
    from src.inference.inputs import check_rows
    from src.tasks import get_task

    task = get_task("classification")
    with pytest.raises(ValueError, match=r"input 0 has no 'text_pair' \(the second text: this model was trained on "
                       r"sentence pairs\)\. Fix: give text_pair=\.\.\. .* text_pair_column=<column>"):  # fmt: skip
        check_rows([{"text": "a"}], task.fields({"text_pair": True}), task.name)
    with pytest.raises(ValueError, match=r"reads the input fields \['text'\]; input 0 also has \['text_pair'\]"):
        check_rows([{"text": "a", "text_pair": "b"}], task.fields({"text_pair": False}), task.name)


@pytest.mark.parametrize(
    ("pair", "max_length", "message"),
    [
        (False, 2, r"data.max_length=2 is below .*: 3 \(2 special tokens and one token of text\)"),
        (True, 4, r"data.max_length=4 is below .*: 5 \(3 special tokens of a pair and one token of each text\)"),
    ],
)
def test_max_length_below_what_the_task_needs_is_refused(
    pair: bool, max_length: int, message: str, tiny: dict, tmp_path: Path
) -> None:
    """Before: the token budget went negative (`ids[:-1]`), texts were not cut while the log said they were, and a
    long text crashed the model mid-training."""
    rows = [{"text": "the film was good " * 20, "hyp": "yes", "label": i % 2} for i in range(20)]
    extra = {"text_pair_column": "hyp"} if pair else {}
    with pytest.raises(KeyError, match=message + r"\. Fix: data.max_length>="):
        prepared(rows, tmp_path, tiny["bert"], max_length=max_length, **extra)
    dm = prepared(rows, tmp_path, tiny["bert"], max_length=max_length + 1, **extra)  # the minimum works
    assert {len(ids) for ids in dm.splits["train"]["input_ids"]} == {max_length + 1}


def test_a_score_column_with_a_junk_cell_is_refused_not_read_as_52_classes(tiny: dict, tmp_path: Path) -> None:
    """Before: one 'high' among numbers made the column strings, and every distinct score a class."""
    rows = rows_of(40, lambda i: {"score": str(1.0 + (i % 9) / 2)})
    rows[5]["score"] = "high"
    with pytest.raises(ValueError, match=r"label in column 'score' is not a number, while 39 other rows are numbers "
                       r"\(a typo in a score column\?\): row 5 \('high'\)"):  # fmt: skip
        prepared(rows, tmp_path, tiny["bert"], label_column="score")


def test_labels_mixing_ids_and_names_are_refused(tiny: dict, tmp_path: Path) -> None:
    rows = rows_of(20, lambda i: {"label": ["pos", "neg"][i % 2]})
    rows[3]["label"], rows[8]["label"] = "1", "0"
    with pytest.raises(ValueError, match=r"is a number, while 18 other rows are names: row 3 \('1'\), row 8 \('0'\)"):
        prepared(rows, tmp_path, tiny["bert"])
    jsonl = tmp_path / "mixed.jsonl"  # JSON keeps the types: 1 and "pos" in one column
    jsonl.write_text("\n".join(json.dumps({"text": f"film {i}", "label": i if i < 3 else "pos"}) for i in range(12)))
    cfg = data_config("classification", "imdb", path=str(jsonl), label_names=None, val_size=2, test_size=2)
    with pytest.raises(ValueError, match=r"is a number, while 9 other rows are names: row 0 \('0'\), row 1 \('1'\)"):
        ClassificationDataModule(cfg, tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "c")).prepare_data()


def test_labels_written_two_ways_and_texts_that_are_not_texts(tiny: dict, tmp_path: Path) -> None:
    rows = rows_of(20, lambda i: {"label": ["pos", "neg"][i % 2]})
    rows[4]["label"] = "pos "
    with pytest.raises(ValueError, match=r"label 'pos' is also written \['pos '\] \(surrounding spaces\): row 4"):
        prepared(rows, tmp_path, tiny["bert"])
    numbers = [{"id": i, "text": i * 7, "label": ["pos", "neg"][i % 2]} for i in range(20)]
    with pytest.raises(ValueError, match=r"column 'text' holds int64 values, not texts .*data.text_column"):
        prepared(numbers, tmp_path, tiny["bert"])
