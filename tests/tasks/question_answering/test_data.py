"""QA data: validation errors, v1/v2 inference, training labels from character offsets, windows and evaluation
batches that keep a question's windows together."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from src.data.sources import RawData
from src.tasks.question_answering import synthetic
from src.tasks.question_answering.data import QuestionAnsweringDataModule
from src.utils.errors import ConfigError, DataError
from tests.conftest import data_config, no_lazy_columns

CONTEXT = "The red car is old. The blue boat belongs to bob smith. The green lamp is new. The grey kite is clean."
QUESTION = "Who owns the blue boat?"
BOB = CONTEXT.index("bob smith")


def row(
    question: str = QUESTION, context: str = CONTEXT, texts: list | None = None, starts: list | None = None
) -> dict:
    texts = ["bob smith"] if texts is None else texts
    starts = starts or [context.find(t) for t in texts]
    return {"question": question, "context": context, "answers": {"text": texts, "answer_start": starts}}


def module(tiny: dict, tmp_path: Path, path: object = "unused", **overrides: object) -> QuestionAnsweringDataModule:
    settings = {"path": str(path), "num_workers": 0, "splits": None, "max_length": 64, "doc_stride": 16, **overrides}
    cfg = data_config("question_answering", "squad", **settings)
    return QuestionAnsweringDataModule(cfg, tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "cache"))


def raw(**splits: list[dict]) -> RawData:
    return RawData(
        DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()}), {k: f"{k}.parquet" for k in splits}
    )


def windows(dm: QuestionAnsweringDataModule, rows: list[dict], max_length: int, train: bool = False) -> Dataset:
    """The windows of `rows` as the data module tokenizes them (a training split keeps no offsets or texts)."""
    split = dm._canonical(Dataset.from_list(rows), "rows")
    if train:
        dm.describe(DatasetDict(train=split), {})
    return dm.tokenize(split, dm.tokenizer, max_length)


def context_tokens_before(dm: QuestionAnsweringDataModule, position: int) -> int:
    return len(dm.tokenizer(CONTEXT[:position], add_special_tokens=False)["input_ids"])


def test_labels_come_from_character_offsets_and_windows_without_the_answer_point_at_cls(
    tiny: dict, tmp_path: Path
) -> None:
    dm = module(tiny, tmp_path, doc_stride=2)
    question = len(dm.tokenizer(QUESTION, add_special_tokens=False)["input_ids"])
    # the first window ends on "bob": the answer crosses its boundary, the next window holds it whole
    length = question + 3 + context_tokens_before(dm, BOB) + 1
    out = windows(dm, [row()], length)
    assert len(out) == 3  # "bob" ends window 0; window 1 holds "bob smith"; window 2 starts after it
    labelled = []
    for w in range(len(out)):
        offsets = [(s, e) for s, e in zip(out[w]["offset_start"], out[w]["offset_end"], strict=True) if s >= 0]
        holds = offsets[0][0] <= BOB and offsets[-1][1] >= BOB + len("bob smith")
        start, end = out[w]["start_positions"], out[w]["end_positions"]
        if holds:
            labelled.append(w)
            assert (out[w]["offset_start"][start], out[w]["offset_end"][end]) == (BOB, BOB + len("bob smith"))
            assert dm.tokenizer.decode(out[w]["input_ids"][start : end + 1]) == "bob smith"
        else:
            assert (start, end) == (0, 0)  # CLS
    assert labelled == [1]  # window 0 held only "bob": labelled CLS, not a half answer
    stats = dm._stats(out)
    assert (stats["questions"], stats["cut_answers"], stats["unaligned_answers"]) == (1, 0, 0)


def test_an_answer_longer_than_a_windows_context_is_counted_as_cut(tiny: dict, tmp_path: Path) -> None:
    dm = module(tiny, tmp_path, doc_stride=0)
    question = len(dm.tokenizer(QUESTION, add_special_tokens=False)["input_ids"])
    out = windows(dm, [row(), row(texts=["red"])], question + 3 + 1, train=True)  # one context token per window
    assert set(out["start_positions"][: len(out) // 2]) == {0}  # no window holds "bob smith" (two tokens)
    stats = dm._stats(out)
    assert (stats["questions"], stats["cut_answers"]) == (2, 1)
    assert out["offset_start"][0] == [] and out["context"][0] == ""  # training windows keep no texts


def test_an_answer_inside_a_word_is_labelled_with_the_word_and_counted(tiny: dict, tmp_path: Path) -> None:
    dm = module(tiny, tmp_path)
    out = windows(dm, [row(texts=["ob"], starts=[BOB + 1])], 64)
    (start,) = out["start_positions"]
    assert out["offset_start"][0][start] == BOB and dm._stats(out)["unaligned_answers"] == 1


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (row(question="   "), "empty or missing question: row 1"),
        (row(context="", texts=[]), "empty or missing context: row 1"),
        (
            row(starts=[200]),
            f"answer_start out of range: row 1 (answer_start=200, answer 'bob smith', context of {len(CONTEXT)}",
        ),
        (row(texts=["Bob smith"], starts=[BOB]), f"row 1 ('Bob smith' vs context[{BOB}:{BOB + 9}]='bob smith')"),
        (row(texts=["bob", "smith"], starts=[BOB]), "answers is not {text: [str, ...], answer_start: [int, ...]}"),
        (row(texts=[" "], starts=[3]), "empty answer text: row 1"),
    ],
    ids=["empty-question", "empty-context", "start-out-of-range", "text-mismatch", "shape", "empty-answer"],
)
def test_bad_rows_are_named_with_the_fix(bad: dict, expected: str, tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        module(tiny, tmp_path).validate(raw(train=[row(), bad]))
    assert expected in str(err.value) and "split 'train' (train.parquet)" in str(err.value)
    assert "Fix: correct or drop these rows" in str(err.value)


def test_answers_in_another_schema_are_refused(tiny: dict, tmp_path: Path) -> None:
    rows = [{"question": QUESTION, "context": CONTEXT, "answers": "bob smith"}]
    with pytest.raises(DataError, match=r"answers is not \{text: .*row 0 \(\"'bob smith'\"\)"):
        module(tiny, tmp_path).validate(raw(train=rows))


def test_version_2_is_inferred_from_train_and_refused_when_set_false(
    tiny: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = raw(train=[row(), row(texts=[])])
    with caplog.at_level(logging.INFO):
        _, info = module(tiny, tmp_path).validate(data)
    assert info == {"label_names": None, "version_2": True}
    assert "data.version_2=null: SQuAD v2" in caplog.text and "train: 1 without an answer" in caplog.text
    with pytest.raises(DataError, match=r"no answer \(empty answers\) but data.version_2=false: row 1"):
        module(tiny, tmp_path, version_2=False).validate(data)
    with pytest.raises(DataError, match=r"split 'test' .*\n.*SQuAD v1.1 dataset: row 0[\s\S]*data.version_2=true"):
        module(tiny, tmp_path).validate(raw(train=[row()], test=[row(texts=[])]))


def test_a_doc_stride_without_room_is_refused_before_any_work(tiny: dict, tmp_path: Path) -> None:
    # the tiny tokenizer takes 128 tokens: SQuAD's doc_stride=128 cannot fit
    expected = r"doc_stride=128 leaves no new context tokens in windows of max_length=128: a window needs 133 \(3 "
    with pytest.raises(ConfigError, match=expected + r".*Fix: data.doc_stride<124"):
        module(tiny, tmp_path, max_length=384, doc_stride=128).validate(raw(train=[row()]))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [({"n_best": 0}, "data.n_best=0: out of range (.*). Allowed: an integer >= 1. Fix: data.n_best="),
     ({"doc_stride": 2.5}, "data.doc_stride=2.5: not of the right type (.*). Allowed: an integer >= 0"),
     ({"version_2": "maybe"}, "data.version_2='maybe': not of the right type (.*). Allowed: true or false or null")],
)  # fmt: skip
def test_bad_settings_are_refused(setting: dict, expected: str, tiny: dict, tmp_path: Path) -> None:
    """The data schema (config.py) refuses them when the data module is built, before any work."""
    with pytest.raises(ConfigError, match=re.escape(expected).replace(r"\(\.\*\)", r"\(.*\)")):
        module(tiny, tmp_path, **setting).validate(raw(train=[row()]))


def test_a_question_too_long_for_max_length_names_rows_and_the_minimal_max_length(tiny: dict, tmp_path: Path) -> None:
    dm = module(tiny, tmp_path, max_length=24, doc_stride=4)
    long = "Who owns the " + "very " * 20 + "blue boat?"
    tokens = len(dm.tokenizer(long, add_special_tokens=False)["input_ids"])
    with pytest.raises(DataError) as err:
        dm.validate(raw(train=[row(), row(question=long)]))
    message = str(err.value)
    assert f"question too long for data.max_length=24 with data.doc_stride=4: row 1 ({tokens} tokens)" in message
    assert f"Fix: data.max_length>={tokens + 3 + 4 + 1}" in message


def test_prepared_splits_and_evaluation_batches_keep_a_questions_windows_together(tiny: dict, tmp_path: Path) -> None:
    path = synthetic.write_splits(tmp_path / "data", 40, 30, seed=3, unanswerable=0.3)
    dm = module(tiny, tmp_path, path, max_length=40, doc_stride=8, eval_batch_size=8)
    with no_lazy_columns():  # validation and tokenization read whole columns, never element by element
        dm.prepare_data()
        dm.setup("fit")
    assert dm.info["version_2"] is True and dm.label_names is None
    assert dm.splits["train"]["offset_start"][0] == [] and dm.splits["validation"]["offset_start"][0] != []
    stats = dm.meta["splits"]["validation"]
    assert stats["questions"] == 30 and stats["windows"] > 30 and stats["multi_window"] > 0
    seen = []
    for batch in dm.val_dataloader():
        questions = batch["example"].tolist()
        firsts = [q for q, golds in zip(questions, batch["golds"], strict=True) if golds]
        assert sorted(firsts) == sorted(set(questions))  # every question's first window (its texts) is here
        assert batch["offset_start"].shape == batch["input_ids"].shape
        seen += firsts
    assert sorted(seen) == list(range(30))  # each question once, whole
    args = dm.model_args(None)
    assert args == {"version_2": True, "max_length": 40, "doc_stride": 8, "max_answer_length": 30, "n_best": 20}
