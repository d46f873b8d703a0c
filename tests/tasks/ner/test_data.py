"""NER data: CoNLL reader, label sets, bad input, word/sub-token alignment and windows for each tokenizer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from src.data.batching import PadCollator
from src.data.sequences import windows
from src.tasks.ner.data import NERDataModule
from src.tasks.ner.entities import EntityF1
from src.tasks.words.data import read_conll
from src.tasks.words.module import assemble_sentences
from tests.conftest import data_config, no_lazy_columns

SENTENCES = [
    (["Alice", "Smith", "visited", "Paris", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"]),
    (["Unbelievablyhyphenatedwordforms", "Acme"], ["O", "B-ORG"]),  # many sub-tokens per word
    (["Bob", "Bob", "met", "Initech"], ["B-PER", "B-PER", "O", "B-ORG"]),  # adjacent entities of one type
    (["the"] * 30 + ["Grace", "Hopper", "in", "Lima"], ["O"] * 30 + ["B-PER", "I-PER", "O", "B-LOC"]),  # long
    (["Oslo"], ["B-LOC"]),  # entity at sentence end
]


def data_cfg(path: object, **overrides: object) -> dict:
    return data_config(
        "ner", "conll2003", **{"path": path, "num_workers": 0, "val_size": 1, "test_size": 1, **overrides}
    )


def write_parquet(tmp_path: Path, sentences: list, name: str = "train.parquet") -> Path:
    path = tmp_path / name
    pd.DataFrame({"tokens": [s[0] for s in sentences], "ner_tags": [s[1] for s in sentences]}).to_parquet(path)
    return path


def prepared(path: object, model_dir: Path, tmp_path: Path, **overrides: object) -> NERDataModule:
    dm = NERDataModule(data_cfg(path, **overrides), tokenizer=str(model_dir), cache_dir=str(tmp_path / "cache"))
    with no_lazy_columns():  # validation and tokenization read whole columns, never element by element
        dm.prepare_data()
        dm.setup("fit")
    return dm


def test_read_conll_skips_docstart_and_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\nPeter NNP B-NP B-PER\n")
    ds = read_conll(path)
    assert ds["tokens"] == [["EU", "rejects"], ["Peter"]]
    assert ds["ner_tags"] == [["B-ORG", "O"], ["B-PER"]]
    assert ds["line"] == [3, 7]


def test_read_conll_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("EU B-ORG\nrejects\n")
    with pytest.raises(ValueError, match=r"train.txt:2: expected 'token ... tag'.*got 'rejects'"):
        read_conll(path)
    (tmp_path / "empty.txt").write_text("\n-DOCSTART- O\n")
    with pytest.raises(ValueError, match="no sentences found"):
        read_conll(tmp_path / "empty.txt")


def test_conll_text_dir_and_label_set_from_data(tiny: dict, ner_dir: Path, tmp_path: Path) -> None:
    dm = prepared(str(ner_dir), tiny["bert"], tmp_path)
    assert dm.label_names == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert {k: len(set(v["sentence"])) for k, v in dm.splits.items()} == {"train": 300, "validation": 60, "test": 60}


def test_integer_tags_need_and_use_label_names(tiny: dict, tmp_path: Path) -> None:
    names = ["O", "B-PER", "I-PER"]
    path = tmp_path / "train.parquet"
    pd.DataFrame({"tokens": [["Al", "Bo", "x"]] * 6, "ner_tags": [[1, 2, 0]] * 6}).to_parquet(path)
    with pytest.raises(ValueError, match=r"tags are integers without names\. Fix: data\.label_names"):
        prepared(str(path), tiny["bert"], tmp_path)
    assert prepared(str(path), tiny["bert"], tmp_path, label_names=names).label_names == names


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        ([(["a", "b"], ["O"])], "tokens and tags differ in length: row 0 (2 vs 1)"),
        ([(["a"], ["B-PER"]), (["b"], ["PER"])], "are not BIO tags (O, B-TYPE, I-TYPE), e.g. ['PER'] at row 1 word 0"),
        ([([], [])], "empty sentence: row 0"),
    ],
    ids=["length-mismatch", "malformed-tag", "empty-sentence"],
)
def test_bad_sentences_are_named(sentences: list, expected: str, tiny: dict, tmp_path: Path) -> None:
    path = write_parquet(tmp_path, sentences * 3)
    dm = NERDataModule(data_cfg(str(path)), tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path))
    with pytest.raises(ValueError) as err:
        dm.prepare_data()
    assert expected in str(err.value) and "split 'train'" in str(err.value)


def test_unknown_tag_in_test_file_names_the_line(tiny: dict, tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("Al B-PER\nx O\n\n" * 4)
    (tmp_path / "test.txt").write_text("Al B-PER\n\nAcme B-ORG\n")
    dm = NERDataModule(data_cfg(str(tmp_path)), tokenizer=str(tiny["bert"]), cache_dir=str(tmp_path / "c"))
    expected = r"split 'test' \(.*test.txt\)[\s\S]*tag not in the label set: line 3 \('B-ORG'\)"
    with pytest.raises(ValueError, match=expected):
        dm.prepare_data()


def test_windows_cover_every_token() -> None:
    assert windows(10, 4, 1) == [0, 3, 6]
    assert windows(4, 4, 1) == [0]
    assert windows(0, 4, 1) == [0]


def gold_as_predictions(dm: NERDataModule, split: str = "train") -> dict:
    """Feed each window's labels back as predictions and score whole sentences."""
    data = dm.splits[split].select_columns(dm.batch_columns())
    batch = PadCollator(dm.tokenizer.pad_token_id)(list(data))
    preds = batch["labels"].clamp(min=0)
    pred, gold, _ = assemble_sentences(batch["sentence"], batch["word_ids"], preds, batch["tags"], outside=0)
    metric = EntityF1(dm.label_names)
    metric.update(pred, gold)
    return metric.compute() | {"pred": pred, "gold": gold}


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
@pytest.mark.parametrize("all_subtokens", [False, True])
def test_alignment_round_trip_gives_perfect_scores(kind: str, all_subtokens: bool, tiny: dict, tmp_path: Path) -> None:
    """Gold labels fed back as predictions: entity F1 = 1 for every tokenizer, with windows (max_length 12)."""
    path = write_parquet(tmp_path, SENTENCES * 2)
    dm = prepared(str(path), tiny[kind], tmp_path, max_length=12, stride=2, label_all_subtokens=all_subtokens,
                  val_size=1, test_size=1)  # fmt: skip
    assert dm.meta["splits"]["train"]["truncated"] >= 1  # the long sentence was split into windows
    scores = gold_as_predictions(dm)
    assert scores["f1"] == 1.0 and scores["recall"] == 1.0
    tags = {tuple(t) for _, t in SENTENCES}
    assert {tuple(dm.label_names[i] for i in s) for s in scores["gold"]} <= tags
    scored: dict[int, list[int]] = {}
    for row in dm.splits["train"]:
        scored.setdefault(row["sentence"], []).extend(w for w in row["word_ids"] if w >= 0)
    lengths = {row["sentence"]: len(row["tags"]) for row in dm.splits["train"] if row["tags"]}
    assert all(sorted(words) == list(range(lengths[s])) for s, words in scored.items())  # each word scored once
    if kind == "roberta":
        assert dm.tokenizer.add_prefix_space  # set automatically for byte-level BPE


def test_first_subtoken_carries_the_label(tiny: dict, tmp_path: Path) -> None:
    path = write_parquet(tmp_path, [(["Unbelievablyhyphenated", "Acme"], ["B-PER", "B-ORG"])] * 4)
    for all_subtokens, continuation in ((False, -100), (True, "I-PER")):
        dm = prepared(str(path), tiny["bert"], tmp_path, label_all_subtokens=all_subtokens)
        row = dm.splits["train"][0]
        labels = [dm.label_names[x] if x >= 0 else x for x in row["labels"]]
        pieces = dm.tokenizer.convert_ids_to_tokens(row["input_ids"])
        assert labels[0] == -100 and labels[-1] == -100  # [CLS], [SEP]
        assert labels[1] == "B-PER" and pieces[2].startswith("##") and labels[2] == continuation


def test_word_without_subtokens_counts_as_missed(tiny: dict, tmp_path: Path) -> None:
    path = write_parquet(tmp_path, [(["Alice", "\u200b"], ["B-PER", "B-LOC"])] * 4)  # zero-width space: no sub-token
    dm = prepared(str(path), tiny["bert"], tmp_path)
    assert dm.meta["splits"]["train"]["words_without_subtokens"] == len(dm.splits["train"])
    scores = gold_as_predictions(dm)
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5  # the LOC entity is missed, not dropped
    assert torch.tensor(scores["LOC/support"]) > 0


def test_a_pos_column_read_as_ner_tags_is_refused_with_the_column_to_use(tiny: dict, tmp_path: Path) -> None:
    """CoNLL-2003 lines are `word POS chunk NER`: reading the POS column as tags must not invent a label set;
    the error names the lines and the columns that hold BIO tags."""
    lines = ["-DOCSTART- -X- -X- O", "", "EU NNP B-NP B-ORG", "rejects VBZ B-VP O", "German JJ B-NP B-MISC", "",
             "Peter NNP B-NP B-PER", "Blackburn NNP I-NP I-PER", ""]  # fmt: skip
    (tmp_path / "train.txt").write_text("\n".join(lines + lines[2:] * 3))  # 8 sentences
    with pytest.raises(KeyError, match=r"(?s)are not BIO tags .*'NNP'.* at line 3, line 4.*columns \[2, 3\].*-1"):
        prepared(str(tmp_path / "train.txt"), tiny["bert"], tmp_path, conll_tag_column=1)
    dm = prepared(str(tmp_path / "train.txt"), tiny["bert"], tmp_path, conll_tag_column=-1)
    assert dm.label_names == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_a_window_too_short_for_its_stride_is_refused_with_the_minimum(tiny: dict, tmp_path: Path) -> None:
    path = write_parquet(tmp_path, SENTENCES * 2)
    with pytest.raises(KeyError, match=r"data.max_length=12 is below .*: 13 \(2 special tokens and a window over "
                       r"2 x data.stride=5\)\. Fix: data.max_length>=13"):  # fmt: skip
        prepared(str(path), tiny["bert"], tmp_path, max_length=12, stride=5, val_size=1, test_size=1)
