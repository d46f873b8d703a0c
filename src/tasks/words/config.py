"""Config keys of word tagging (ner, tagging): its data (a sentence is a list of words with one tag each)."""

from __future__ import annotations

from dataclasses import dataclass

from src.data.config import DataConfig
from src.utils.schema import key, redefault


@dataclass
class WordsData(DataConfig):
    """`data.*` of word tagging (data/_words: conll2003, conll2003_pos)."""

    tokens_column: str = key("tokens", "the column holding each sentence's list of words")
    tags_column: str = key(
        "ner_tags",
        "the column of tags per word: strings, or integers with data.label_names "
        "(also the name CoNLL text files' tags get)",
    )
    label_names: list[str] | None = key(
        None, "names of integer tags in id order; null = the dataset's names, or the tags seen in train"
    )
    conll_tag_column: int = key(-1, "CoNLL text files: which whitespace-separated field is the tag (-1 = the last)")
    label_all_subtokens: bool = key(
        False, "false: a word's first sub-token carries its label; true: all do (NER: B- becomes I- after the first)"
    )
    stride: int = key(32, "sub-tokens shared by consecutive windows of a long sentence (context at the cut)", ge=0)
    max_length: int = redefault(DataConfig, "max_length", 256)
    batch_size: int = redefault(DataConfig, "batch_size", 32)


SCHEMAS = {"data/_words": WordsData}
