"""Multiple-choice data: a question (optionally with a context) and 2+ candidate answers, one of them right.

Layouts read (`data.*` keys):
- choices: one list column (`choices_column: choices`), one column per choice (`choices_column: [ending0,
  ending1, ...]`, SWAG; trailing empty cells are absent choices), or the Hugging Face CommonsenseQA struct
  `{"label": [A..E], "text": [...]}`; questions may have different numbers of choices;
- gold (`label_column`): an index (0-based), a letter (`answerKey`: one of the row's choice labels, from
  `choice_labels_column` or the struct, else A = the first choice) or the text of one of the choices. Which
  one is read from the train split and logged.

Each choice becomes one sequence: (question, choice), or with a context (context, question + " " + choice).
The first text is cut first, so a choice is read whole; only a choice too long on its own is cut too.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from transformers import PreTrainedTokenizerBase

from src.data.base import SPLITS, TokenizedDataModule, column, raise_if_problems, values
from src.data.sources import RawData
from src.tasks.multiple_choice.config import MultipleChoiceData
from src.utils.errors import ConfigError, DataError
from src.utils.log import get_logger

log = get_logger(__name__)
INDEX, LETTER, TEXT = "index", "letter", "text"  # how the gold answer is given
LETTERS = re.compile(r"^[A-Z]$")
FIX = (
    "Fix: drop or correct these rows. A question and each of its choices must be non-empty texts, a question needs "
    "at least 2 choices, and data.label_column gives the gold answer as a 0-based index, a letter (A = the first "
    "choice, or one of data.choice_labels_column's labels) or the text of one of the choices."
)
Problems = dict[str, list[str]]


def missing(value: Any) -> bool:
    """None, NaN or an empty string: no value (CSV cannot tell an empty cell from a missing one)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# ----------------------------------------------------------------------------------------------- gold answers
def gold_kind(golds: Sequence[Any], labels: Sequence[list[str] | None]) -> str:
    """How a split gives its gold answers: integers (or digit strings) are indices; strings that are all one of
    their row's choice labels, or all single capital letters, are letters; other strings are answer texts."""
    present = [(g, lab) for g, lab in zip(golds, labels, strict=True) if not missing(g)]
    if all(as_index(g) is not None and not (isinstance(g, str) and lab) for g, lab in present):
        return INDEX
    if all(isinstance(g, str) and (g in (lab or []) or LETTERS.match(g)) for g, lab in present):
        return LETTER
    return TEXT


def as_index(gold: Any) -> int | None:
    """An integer, an integral float (a CSV column with gaps) or a digit string as an index; else None."""
    if isinstance(gold, (int, np.integer)) and not isinstance(gold, bool):
        return int(gold)
    if isinstance(gold, float) and gold.is_integer():
        return int(gold)
    return int(gold) if isinstance(gold, str) and gold.strip().isdigit() else None


def gold_index(kind: str, gold: Any, choices: list[str], labels: list[str] | None) -> tuple[int, str | None]:
    """(index of the gold choice, None), or (-1, what is wrong with this gold)."""
    n = len(choices)
    if missing(gold):
        return -1, "missing gold answer"
    if kind == INDEX:
        index = as_index(gold)
        if index is None:
            return -1, "gold is not an index (the train split gives 0-based indices)"
        return (index, None) if 0 <= index < n else (-1, "gold index out of range (0 .. number of choices - 1)")
    if kind == LETTER:
        names = labels or [chr(ord("A") + i) for i in range(n)]
        if gold in names:
            return names.index(gold), None
        return -1, "gold letter is none of the row's choice labels" if labels else "gold letter beyond the choices"
    matches = [i for i, choice in enumerate(choices) if choice.strip() == str(gold).strip()]
    if len(matches) > 1:
        return -1, "gold answer text matches several (duplicate) choices"
    return (matches[0], None) if matches else (-1, "gold answer text is not one of the choices")


# ----------------------------------------------------------------------------------------------- tokenization
@dataclass
class EncodedChoices:
    """Every question's choices as token sequences (C lists per question) and what was cut."""

    input_ids: list[list[list[int]]]
    token_type_ids: list[list[list[int]]] | None
    truncated: list[bool]  # the question's context (or question) was cut in some choice
    cut_choices: list[int]  # choices too long even alone: cut as well (longest_first)


def pair_texts(questions: Sequence[str], choices: Sequence[Sequence[str]], contexts: Sequence[str] | None) -> tuple:
    """(first texts, second texts, owning question) of every choice: (question, choice), or with a context
    (context, question + " " + choice) as run_swag.py pairs (sent1, sent2 + " " + ending)."""
    firsts, seconds, owners = [], [], []
    for row, (question, options) in enumerate(zip(questions, choices, strict=True)):
        for choice in options:
            firsts.append(question if contexts is None else contexts[row])
            seconds.append(choice if contexts is None else f"{question} {choice}")
            owners.append(row)
    return firsts, seconds, owners


def token_counts(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[int]:
    """Tokens of each text without special tokens (each distinct text tokenized once)."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return []
    counts = dict(zip(unique, map(len, tokenizer(unique, add_special_tokens=False)["input_ids"]), strict=True))
    return [counts[t] for t in texts]


def encode_pairs(tokenizer: PreTrainedTokenizerBase, firsts: list[str], seconds: list[str], max_length: int) -> tuple:
    """The tokenizer's pair template, cutting the first text only ('only_first'); a pair whose second text does
    not fit beside one token of the first is cut with 'longest_first'. Returns (ids, token types or None, whether
    each pair was cut, whether its second text was cut too)."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    second_len = token_counts(tokenizer, seconds)
    full = [f + s + specials for f, s in zip(token_counts(tokenizer, firsts), second_len, strict=True)]
    whole = np.array([s + specials < max_length for s in second_len], dtype=bool)  # 'only_first' keeps it whole
    ids: list[Any] = [None] * len(firsts)
    types: list[Any] = [None] * len(firsts)
    for strategy, rows in (("only_first", np.flatnonzero(whole)), ("longest_first", np.flatnonzero(~whole))):
        if not len(rows):
            continue
        enc = tokenizer([firsts[i] for i in rows], [seconds[i] for i in rows], truncation=strategy,
                        max_length=max_length, verbose=False)  # fmt: skip
        keep_types = "token_type_ids" in enc and "token_type_ids" in tokenizer.model_input_names
        for k, i in enumerate(rows):
            ids[i], types[i] = enc["input_ids"][k], enc["token_type_ids"][k] if keep_types else None
    has_types = bool(types) and types[0] is not None
    return ids, types if has_types else None, [f > max_length for f in full], (~whole).tolist()


def encode_choices(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    contexts: Sequence[str] | None,
    max_length: int,
) -> EncodedChoices:
    """Training and predict.py encode choices with this one function: the model reads the same sequences."""
    firsts, seconds, owners = pair_texts(questions, choices, contexts)
    ids, types, cut, cut_second = encode_pairs(tokenizer, firsts, seconds, max_length)
    rows = len(questions)
    out = EncodedChoices([[] for _ in range(rows)], [[] for _ in range(rows)] if types else None, [False] * rows,
                         [0] * rows)  # fmt: skip
    for i, row in enumerate(owners):
        out.input_ids[row].append(ids[i])
        if types:
            out.token_type_ids[row].append(types[i])
        out.truncated[row] |= cut[i]
        out.cut_choices[row] += cut_second[i]
    return out


# ----------------------------------------------------------------------------------------------- data module
class MultipleChoiceDataModule(TokenizedDataModule):
    """Questions with their choices: validates every row, tokenizes each choice as a pair, pads per batch to
    (batch, choice, sequence) (PadCollator masks the absent choices of questions with fewer)."""

    task_name = "multiple_choice"
    config_class = MultipleChoiceData
    long_rows = "were longer than max_length={max_length} in some choice: their context (or question) was cut"

    # ------------------------------------------------------------------ config
    @property
    def choices_spec(self) -> str | list[str]:
        """One list column, or one column per choice (the schema checks there are at least 2)."""
        spec = self.cfg.choices_column
        return spec if isinstance(spec, str) else list(spec)

    def columns(self) -> dict[str, str]:
        """config key -> the column it names, for the check that every split has them."""
        keys = ("question_column", "context_column", "choice_labels_column", "label_column")
        named = {k: getattr(self.cfg, k) for k in keys if getattr(self.cfg, k)}
        spec = self.choices_spec
        if isinstance(spec, str):
            return named | {"choices_column": spec}
        return named | {f"choices_column[{i}]": c for i, c in enumerate(spec)}

    def min_length(self, tokenizer: PreTrainedTokenizerBase) -> tuple[int, str]:
        """A pair's special tokens, one token of the question (or context) and one of the choice."""
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        return specials + 2, f"{specials} special tokens of a pair and one token of each text"

    def batch_columns(self) -> list[str]:
        extra = ["token_type_ids"] if "token_type_ids" in self.splits["train"].column_names else []
        return ["input_ids", "labels", "idx", *extra]

    def model_args(self, class_weights: str | list[float] | None = None) -> dict[str, Any]:
        self.class_weights(class_weights)  # refuses any weights: the head has no label set
        return {"max_choices": int(self.info["max_choices"]), "context": bool(self.info["context"])}

    # ------------------------------------------------------------------ validation
    def validate(self, raw: RawData) -> tuple[DatasetDict, dict[str, Any]]:
        named = self.columns()
        for name, ds in raw.splits.items():
            absent = [(k, c) for k, c in named.items() if c not in ds.column_names]
            if absent and name in SPLITS:
                key, col = absent[0]
                raise ConfigError(
                    f"{raw.where(name)}: column {col!r} (data.{key}) not found; columns are {ds.column_names}. "
                    f"Fix: data.{key.split('[')[0]}=<column name>."
                )
        ignored = sorted(set(raw.splits) - set(SPLITS))
        if ignored:
            log.info("Ignoring splits %s (only %s are used).", ignored, ", ".join(SPLITS))
        if "train" not in raw.splits:
            raise DataError(f"data.path={self.cfg.path!r} has no train split (found {sorted(raw.splits)}).")
        read = {name: self._read(raw.splits[name]) for name in SPLITS if name in raw.splits}
        train = read["train"]
        kind = gold_kind(train["gold"], train["choice_labels"])
        log.info("data.label_column=%r: gold answers read as %s (%s).", self.cfg.label_column, kind,
                 {INDEX: "0-based indices", LETTER: "letters of the choices", TEXT: "answer texts"}[kind])  # fmt: skip
        out = DatasetDict({name: self._canonical(rows, kind, raw.where(name)) for name, rows in read.items()})
        counts = [n for split in out.values() for n in map(len, values(split, "choices"))]
        context = "context" in out["train"].column_names
        info = {"max_choices": max(counts, default=0), "min_choices": min(counts, default=0), "context": context,
                "gold": kind}  # fmt: skip
        return out, info

    def _read(self, ds: Dataset) -> dict[str, Any]:
        """The split's columns as Python values (whole columns through Arrow) and the problems found in them."""
        problems: Problems = defaultdict(list)
        rows = {"question": self._texts(ds, "question_column", problems)}
        if self.cfg.context_column:
            rows["context"] = self._texts(ds, "context_column", problems)
        rows["choices"], rows["choice_labels"] = self._choices(ds, problems)
        rows["gold"] = values(ds, self.cfg.label_column)
        rows["problems"] = problems
        return rows

    def _texts(self, ds: Dataset, key: str, problems: Problems) -> list[str]:
        col = getattr(self.cfg, key)
        texts = values(ds, col)
        for row, text in enumerate(texts):
            if not is_text(text):
                problems[f"empty or missing {key.removesuffix('_column')} (column {col!r})"].append(f"row {row}")
        return [t if isinstance(t, str) else "" for t in texts]

    def _choices(self, ds: Dataset, problems: Problems) -> tuple[list[list[str]], list[list[str] | None]]:
        """Each row's choices (and choice labels: the labels column's, the struct's, or None)."""
        spec = self.choices_spec
        if isinstance(spec, list):
            cells = list(zip(*(values(ds, c) for c in spec), strict=True)) if len(ds) else []
            choices = [self._present(list(row), spec, r, problems) for r, row in enumerate(cells)]
            labels: list[Any] = [None] * len(choices)
        else:
            raw = values(ds, spec)
            labels = [v.get("label") if isinstance(v, dict) else None for v in raw]
            choices = [(v.get("text") if isinstance(v, dict) else v) or [] for v in raw]
        if self.cfg.choice_labels_column:
            labels = values(ds, self.cfg.choice_labels_column)
        for row, options in enumerate(choices):
            if isinstance(options, str):  # a CSV cell holding a list's text
                problems[f"column {spec!r} holds a text, not a list (a CSV file? data.choices_column=[col1, col2, ...] "
                         "reads one column per choice)"].append(f"row {row}")  # fmt: skip
                choices[row] = options = []
            else:
                self._check_row(row, options, labels[row], problems)
        return [[c if isinstance(c, str) else "" for c in options] for options in choices], labels

    @staticmethod
    def _present(cells: list[Any], spec: list[str], row: int, problems: Problems) -> list[Any]:
        """One column per choice: empty cells at the end are absent choices; an empty cell before a filled one
        is an error (the gold index would shift)."""
        while cells and missing(cells[-1]):
            cells.pop()
        for col, cell in zip(spec, cells, strict=False):
            if missing(cell):
                problems[f"empty choice in column {col!r} before a filled one"].append(f"row {row}")
        return cells

    def _check_row(self, row: int, options: list[Any], labels: list[str] | None, problems: Problems) -> None:
        if len(options) < 2:
            problems["fewer than 2 choices"].append(f"row {row} ({len(options)})")
        blank = [i for i, c in enumerate(options) if not is_text(c)]
        if blank:
            problems["empty or missing choice"].append(f"row {row} (choice {blank[0]})")
        if labels is not None and len(labels) != len(options):
            problems["choice labels and choices differ in number"].append(f"row {row} ({len(labels)}, {len(options)})")

    def _canonical(self, rows: dict[str, Any], kind: str, where: str) -> Dataset:
        """question (context), choices, labels (the gold index); raises listing every bad row of the split."""
        problems = rows["problems"]
        golds = []
        for row, (gold, options, labels) in enumerate(zip(rows["gold"], rows["choices"], rows["choice_labels"],
                                                          strict=True)):  # fmt: skip
            index, problem = gold_index(kind, gold, options, labels)
            if problem:
                problems[problem].append(f"row {row} ({gold!r})")
            golds.append(index)
        raise_if_problems(problems, where, "rows are 0-based, in file order", FIX)
        duplicated = [f"row {r}" for r, options in enumerate(rows["choices"]) if len(set(options)) < len(options)]
        if duplicated:
            log.warning("%s: %d questions have duplicate choices (%s%s); they are kept.", where, len(duplicated),
                        ", ".join(duplicated[:5]), " ..." if len(duplicated) > 5 else "")  # fmt: skip
        out = {"question": rows["question"], "choices": rows["choices"], "labels": golds}
        return Dataset.from_dict(out | ({"context": rows["context"]} if "context" in rows else {}))

    def describe(self, splits: DatasetDict, info: dict[str, Any]) -> dict[str, Any]:
        """Warns when the train gold always sits at one position: a model could learn the position, not the answer."""
        positions = np.unique(column(splits["train"], "labels"))
        if len(positions) == 1:
            log.warning("Every train gold answer is choice %d: shuffle the choices, or the model learns the position.",
                        int(positions[0]))  # fmt: skip
        return info

    # ------------------------------------------------------------------ tokenization
    def tokenize(self, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
        has_context = "context" in split.column_names

        def encode(batch: dict, indices: list[int]) -> dict:
            enc = encode_choices(tokenizer, batch["question"], batch["choices"],
                                 batch["context"] if has_context else None, max_length)  # fmt: skip
            out = {"idx": indices, "input_ids": enc.input_ids, "n_choices": [len(x) for x in enc.input_ids],
                   "length": [max(map(len, x)) for x in enc.input_ids], "truncated": enc.truncated,
                   "cut_choices": enc.cut_choices}  # fmt: skip
            return out | ({"token_type_ids": enc.token_type_ids} if enc.token_type_ids else {})

        out = split.map(encode, batched=True, with_indices=True, desc="tokenizing", keep_in_memory=True)
        cut = int(column(out, "cut_choices").sum())
        if cut:
            first = "context" if has_context else "question"
            log.warning("%d choices were longer than max_length=%d even without their %s: cut too (longest_first). "
                        "Fix: a larger data.max_length.", cut, max_length, first)  # fmt: skip
        return out
