"""Multiple-choice data: every layout of choices and gold gives the same labels; bad rows are named with split,
file, row and fix before any training; choices are tokenized whole, the context cut first."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from src.tasks.multiple_choice.data import LETTER, MultipleChoiceDataModule, encode_choices
from src.tasks.multiple_choice.synthetic import context_rows, question_rows
from tests.conftest import data_config, no_lazy_columns

ROWS = question_rows(40, seed=3)  # 3 to 5 choices, gold as letter, index and text


def data_cfg(path: object, **overrides: object) -> dict:
    base = {"path": path, "splits": None, "max_length": 64, "num_workers": 0}
    return data_config("multiple_choice", "commonsense_qa", **{**base, **overrides})


def datamodule(path: Path, model_dir: Path, tmp_path: Path, **overrides: object) -> MultipleChoiceDataModule:
    dm = MultipleChoiceDataModule(data_cfg(str(path), **overrides), tokenizer=str(model_dir), cache_dir=str(tmp_path))
    with no_lazy_columns():  # whole columns through Arrow only
        dm.prepare_data()
    dm.setup("fit")
    return dm


def write(directory: Path, rows: list[dict], name: str = "train.parquet") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(directory / name, index=False)
    return directory


def labels_of(dm: MultipleChoiceDataModule) -> dict[str, list[int]]:
    return {name: split["labels"] for name, split in dm.splits.items()}


def test_gold_as_letter_index_text_or_struct_gives_the_same_labels(tiny: dict, tmp_path: Path) -> None:
    struct = [{**r, "choices": {"label": r["choice_labels"], "text": r["choices"]}} for r in ROWS]
    letters = datamodule(write(tmp_path / "letter", ROWS), tiny["bert"], tmp_path)
    assert letters.info == {"max_choices": 5, "min_choices": 3, "context": False, "gold": LETTER}
    expected = labels_of(letters)
    assert sum(map(len, expected.values())) == 40 and len(set(expected["train"])) > 2
    for name, rows, overrides in [
        ("labels", ROWS, {"choice_labels_column": "choice_labels"}),
        ("index", ROWS, {"label_column": "label"}),
        ("text", ROWS, {"label_column": "answer"}),
        ("struct", struct, {}),  # the hub's {label, text} layout
    ]:
        dm = datamodule(write(tmp_path / name, rows), tiny["bert"], tmp_path, **overrides)
        assert labels_of(dm) == expected, name
        assert dm.model_args() == {"max_choices": 5, "context": False}


def test_choice_columns_with_a_context_become_one_pair_per_choice(tiny: dict, tmp_path: Path) -> None:
    rows = context_rows(30, seed=1)
    dm = datamodule(write(tmp_path / "swag", rows), tiny["bert"], tmp_path, **SWAG, label_column="label")
    assert dm.info["context"] and {dm.info["min_choices"], dm.info["max_choices"]} == {3, 4}
    first = dm.splits["train"][0]
    assert first["n_choices"] == len(first["input_ids"]) == len(first["choices"])
    decoded = [dm.tokenizer.decode(ids) for ids in first["input_ids"]]
    assert decoded == [f"[CLS] {first['context']} [SEP] {first['question']} {c} [SEP]" for c in first["choices"]]
    assert first["token_type_ids"][0][-2:] == [1, 1] and first["length"] == max(map(len, first["input_ids"]))
    assert {"input_ids", "labels", "idx", "token_type_ids"} == set(dm.batch_columns())


SWAG = {"context_column": "sent1", "question_column": "sent2", "choices_column": [f"ending{i}" for i in range(4)]}
BAD = [
    ({"drop": "question"}, ["column 'question' (data.question_column) not found", "Fix: data.question_column"]),
    ({"drop": "choices"}, ["column 'choices' (data.choices_column) not found"]),
    ({"row": 2, "question": "  "}, ["empty or missing question (column 'question'): row 2 (1 in all)"]),
    ({"row": 1, "choices": ["", "an apple"], "answerKey": "B"}, ["empty or missing choice: row 1 (choice 0)"]),
    ({"row": 0, "choices": ["an apple"], "answerKey": "A"}, ["fewer than 2 choices: row 0 (1)"]),
    ({"row": 3, "answerKey": "J"}, ["gold letter beyond the choices: row 3 ('J')"]),
    ({"row": 4, "answerKey": None}, ["missing gold answer: row 4 (None)"]),
]


BAD_IDS = ["no-question-column", "no-choices-column", "empty-question", "empty-choice", "one-choice", "letter-beyond",
           "no-gold"]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), BAD, ids=BAD_IDS)
def test_bad_input_is_refused_with_split_file_row_and_fix(
    change: dict, expected: list[str], tiny: dict, tmp_path: Path
) -> None:
    rows = [{k: v for k, v in r.items() if k != change.get("drop")} for r in ROWS]
    if "row" in change:
        rows[change["row"]] |= {k: v for k, v in change.items() if k != "row"}
    dm = MultipleChoiceDataModule(data_cfg(str(write(tmp_path, rows))), tokenizer=str(tiny["bert"]),
                                  cache_dir=str(tmp_path / "c"))  # fmt: skip
    with pytest.raises((KeyError, ValueError)) as err:
        dm.prepare_data()
    message = str(err.value)
    assert all(text in message for text in expected), message
    assert "split 'train'" in message and "train.parquet" in message and "Fix" in message


@pytest.mark.parametrize(
    ("label_column", "gold", "expected"),
    [("label", 7, "gold index out of range (0 .. number of choices - 1): row 5 (7)"),
     ("answer", "a purple moon", "gold answer text is not one of the choices: row 5 ('a purple moon')")],
    ids=["index-out-of-range", "text-not-a-choice"],
)  # fmt: skip
def test_bad_gold_in_the_test_split_is_named(
    label_column: str, gold: object, expected: str, tiny: dict, tmp_path: Path
) -> None:
    test = [dict(r) for r in question_rows(10, seed=4)]
    test[5][label_column] = gold
    write(tmp_path, ROWS)
    write(tmp_path, test, "test.parquet")
    dm = MultipleChoiceDataModule(data_cfg(str(tmp_path), label_column=label_column), tokenizer=str(tiny["bert"]),
                                  cache_dir=str(tmp_path / "c"))  # fmt: skip
    with pytest.raises(ValueError, match=r"split 'test' \(.*test.parquet\)") as err:
        dm.prepare_data()
    assert expected in str(err.value)


def test_a_gap_between_choice_columns_is_refused_and_trailing_empty_cells_are_absent_choices(
    tiny: dict, tmp_path: Path
) -> None:
    rows = [dict(r) for r in context_rows(20, seed=2)]
    rows[6] |= {"ending1": None, "ending3": "drum"}
    cfg = data_cfg(str(write(tmp_path, rows)), **SWAG, label_column="label")
    dm = MultipleChoiceDataModule(cfg, tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match=r"empty choice in column 'ending1' before a filled one: row 6 \(1 in all\)"):
        dm.prepare_data()


def test_choices_written_as_text_in_a_csv_are_refused_with_the_fix(tiny: dict, tmp_path: Path) -> None:
    pd.DataFrame(ROWS).to_csv(tmp_path / "train.csv", index=False)  # a list column becomes "['saw', 'drum']"
    dm = MultipleChoiceDataModule(data_cfg(str(tmp_path)), tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match=r"column 'choices' holds a text, not a list .*: row 0, row 1, .*\(40 in all"):
        dm.prepare_data()


def test_duplicate_choices_are_kept_with_a_warning(
    tiny: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [dict(r) for r in ROWS]
    rows[2] |= {"choices": ["a saw", "a saw", "an apple"], "choice_labels": ["A", "B", "C"], "answerKey": "C"}
    with caplog.at_level(logging.WARNING):
        dm = datamodule(write(tmp_path, rows), tiny["bert"], tmp_path)
    assert any("1 questions have duplicate choices (row 2)" in r.getMessage() for r in caplog.records)
    assert sum(map(len, dm.splits.values())) == 40


def test_config_mistakes_are_refused_before_any_work(tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"Unknown config key.*data\.question_colum"):
        MultipleChoiceDataModule(data_cfg("x", question_colum="q"), tokenizer=str(tiny["bert"]), cache_dir="c")
    with pytest.raises(KeyError, match=r"data.choices_column=\['only'\]: one column per choice needs at least 2"):
        MultipleChoiceDataModule(data_cfg("x", choices_column=["only"]), tokenizer=str(tiny["bert"]), cache_dir="c")
    dm = datamodule(write(tmp_path / "ok", ROWS), tiny["bert"], tmp_path)
    with pytest.raises(KeyError, match="no label set to weight"):
        dm.model_args("balanced")


def test_the_context_is_cut_first_and_a_choice_too_long_alone_is_cut_and_counted(tiny: dict) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["bert"])
    context = " ".join(["apple"] * 40)
    enc = encode_choices(tokenizer, ["they found a"] * 2, [["saw", "drum"], ["saw", " ".join(["drum"] * 30)]],
                         [context, "at the zoo"], max_length=16)  # fmt: skip
    for ids, choice in zip(enc.input_ids[0], ["saw", "drum"], strict=True):  # the context cut, the choice whole
        assert len(ids) == 16 and tokenizer.decode(ids).endswith(f"[SEP] they found a {choice} [SEP]")
    assert enc.truncated == [True, True] and enc.cut_choices == [0, 1]
    assert tokenizer.decode(enc.input_ids[1][0]) == "[CLS] at the zoo [SEP] they found a saw [SEP]"
    assert len(enc.input_ids[1][1]) == 16 and len(enc.token_type_ids[1][1]) == 16
