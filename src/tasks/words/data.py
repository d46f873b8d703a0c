"""Word-level tagging data (NER, part-of-speech, chunking): a sentence is a list of words with one tag each.

Sources: the hub, Parquet/JSON with `tokens`/`<tags>` list columns, or classic CoNLL text files
(`token ... tag` per line, blank line between sentences, `-DOCSTART-` lines skipped).

Sentences longer than `max_length` sub-tokens are split into overlapping windows (`stride` shared
sub-tokens). Every word is scored in exactly one window (the one giving it the most context on both
sides), and evaluation reassembles whole sentences, so no gold word is ever left out. A task subclasses
`WordTagDataModule` and says what its label set is and which tags are malformed (NER: BIO tags).
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cached_property
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Sequence, Value
from transformers import PreTrainedTokenizerBase

from src.data.base import SPLITS, TokenizedDataModule, column, raise_if_problems, values
from src.data.sequences import special_framing, windows
from src.data.sources import RawData
from src.models.backbone import load_tokenizer
from src.tasks.words.config import WordsData
from src.utils.errors import ConfigError, DataError
from src.utils.log import get_logger

log = get_logger(__name__)


def needs_prefix_space(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True for byte-level BPE (RoBERTa, GPT-2 style) loaded without add_prefix_space: it marks word starts
    with a space, so pre-split words (NER) must be reloaded with add_prefix_space=True."""
    pre_tokenizer = json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer")
    return "ByteLevel" in json.dumps(pre_tokenizer) and not getattr(tokenizer, "add_prefix_space", False)


def load_word_tokenizer(name: str, **kwargs) -> PreTrainedTokenizerBase:
    """The tokenizer for pre-split words (word tagging): byte-level BPE gets add_prefix_space=True."""
    tokenizer = load_tokenizer(name, **kwargs)
    return load_tokenizer(name, add_prefix_space=True, **kwargs) if needs_prefix_space(tokenizer) else tokenizer


def read_conll(path: Path, tag_column: int = -1, tags_name: str = "ner_tags", tokens_name: str = "tokens") -> Dataset:
    """One row per sentence: `tokens_name`, `tags_name` (strings) and `line` (1-based line of its first token)."""
    rows: dict[str, list] = {tokens_name: [], tags_name: [], "line": []}
    sentence: list[list[str]] = []
    first_line = 0

    def flush() -> None:
        if sentence:
            rows[tokens_name].append([f[0] for f in sentence])
            rows[tags_name].append([f[tag_column] for f in sentence])
            rows["line"].append(first_line)
            sentence.clear()

    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            fields = raw.split()
            if not fields or fields[0] == "-DOCSTART-":
                flush()
                continue
            if len(fields) < 2:
                raise DataError(
                    f"{path}:{number}: expected 'token ... tag' (two or more whitespace-separated fields), "
                    f"got {raw.rstrip()!r}. Fix the line, or put a blank line between sentences."
                )
            if not sentence:
                first_line = number
            sentence.append(fields)
    flush()
    if not rows[tokens_name]:
        raise DataError(f"{path}: no sentences found (expected 'token ... tag' lines).")
    return Dataset.from_dict(rows)


def owner_windows(first_positions: list[int], starts: list[int], budget: int, n_tokens: int) -> list[int]:
    """For each word's first sub-token (global position), the window where it has the most context."""
    owners = []
    for g in first_positions:
        best, best_context = 0, -1
        for k, start in enumerate(starts):
            size = min(budget, n_tokens - start)
            if start <= g < start + size and min(g - start, size - 1 - g + start) > best_context:
                best, best_context = k, min(g - start, size - 1 - g + start)
        owners.append(best)
    return owners


class WordTagDataModule(TokenizedDataModule):
    """Word tagging data: validates tokens/tags, aligns word labels to sub-tokens, windows long sentences.

    Subclasses set `task_name` and may refine `default_label_names`, `tag_problem` and `continuation`.
    """

    config_class = WordsData
    aligned = {"labels": -100, "word_ids": -1}  # noqa: RUF012 (token-aligned columns and their padding)
    group_column = "sentence"
    unrepresented_note = "they are predicted as the first label"  # what happens to a word without sub-tokens
    long_rows = (
        "were longer than max_length={max_length} sub-tokens and were split into windows sharing {stride} "
        "sub-tokens (each word is scored once, in the window where it has the most context)"
    )

    @property
    def readers(self) -> dict:  # type: ignore[override]
        column = self.cfg.conll_tag_column
        names = {"tags_name": self.cfg.tags_column, "tokens_name": self.cfg.tokens_column}
        reader = lambda path: read_conll(path, column, **names)  # noqa: E731
        return {".txt": reader, ".conll": reader}

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return load_word_tokenizer(
            self.tokenizer_name, trust_remote_code=self.trust_remote_code, key=self.tokenizer_key
        )

    def min_length(self, tokenizer: PreTrainedTokenizerBase) -> tuple[int, str]:
        """A window holds its special tokens and more than twice the stride (consecutive windows share `stride`)."""
        specials, stride = tokenizer.num_special_tokens_to_add(pair=False), self.cfg.stride
        return specials + 2 * stride + 1, f"{specials} special tokens and a window over 2 x data.stride={stride}"

    def batch_columns(self) -> list[str]:
        return ["input_ids", "labels", "word_ids", "sentence", "tags"]

    # ------------------------------------------------------------------ validation
    def validate(self, raw: RawData) -> tuple[DatasetDict, dict]:
        tok_col, tag_col = self.cfg.tokens_column, self.cfg.tags_column
        if "train" not in raw.splits:
            raise DataError(f"data.path={self.cfg.path!r} has no train split (found {sorted(raw.splits)}).")
        for name in (s for s in SPLITS if s in raw.splits):
            missing = [c for c in (tok_col, tag_col) if c not in raw.splits[name].column_names]
            if missing:
                raise ConfigError(
                    f"{raw.where(name)}: column {missing[0]!r} not found; columns are "
                    f"{raw.splits[name].column_names}. Fix: data.tokens_column=<name> / data.tags_column=<name>."
                )
        names = self._label_names(raw, tag_col)
        out = DatasetDict()
        for name in (s for s in SPLITS if s in raw.splits):
            ds = raw.splits[name]
            tags = self._check_split(ds, tok_col, tag_col, names, raw.where(name))
            out[name] = (
                ds.select_columns([tok_col])
                .rename_columns({tok_col: "tokens"} if tok_col != "tokens" else {})
                .add_column("labels", tags)
                .cast_column("labels", Sequence(ClassLabel(names=names)))
            )
        return out, {"label_names": names}

    def _label_names(self, raw: RawData, tag_col: str) -> list[str]:
        feature = raw.splits["train"].features[tag_col]
        inner = getattr(feature, "feature", None)
        configured = self.cfg.label_names
        if isinstance(inner, ClassLabel):
            return list(configured or inner.names)
        if isinstance(inner, Value) and inner.dtype.startswith("int"):
            if not configured:
                raise ConfigError(
                    f"{raw.where('train')}: tags are integers without names. "
                    "Fix: data.label_names=[<tag of id 0>, <tag of id 1>, ...]."
                )
            return list(configured)
        if configured:
            return list(configured)
        seen = {t for row in values(raw.splits["train"], tag_col) for t in row if isinstance(t, str)}
        return self.default_label_names(seen, raw, tag_col)

    # ------------------------------------------------------------------ task hooks
    def default_label_names(self, seen: set[str], raw: RawData, tag_col: str) -> list[str]:
        """The label set when data.label_names is null and tags are strings: the tags seen in train, sorted."""
        return sorted(seen)

    def tag_problem(self, tag: object) -> str:
        """How to describe a tag outside the label set in the error message."""
        return "tag not in the label set"

    @staticmethod
    def continuation(names: list[str]) -> list[int]:
        """data.label_all_subtokens: the label id a word's later sub-tokens get, per label id (NER: B- -> I-)."""
        return list(range(len(names)))

    def _check_split(self, ds: Dataset, tok_col: str, tag_col: str, names: list[str], where: str) -> list[list[int]]:
        """Tag ids per sentence; raises naming rows (or CoNLL lines) for every kind of problem."""
        to_id = {n: i for i, n in enumerate(names)}
        lines = values(ds, "line") if "line" in ds.column_names else None
        problems: dict[str, list[str]] = defaultdict(list)
        ids: list[list[int]] = []
        for row, (tokens, tags) in enumerate(zip(values(ds, tok_col), values(ds, tag_col), strict=True)):
            at = f"line {lines[row]}" if lines else f"row {row}"
            if not tokens:
                problems["empty sentence"].append(at)
            elif not all(isinstance(t, str) for t in tokens if t is not None):
                odd = next(t for t in tokens if t is not None and not isinstance(t, str))
                problems["token is not a string"].append(f"{at} ({odd!r})")
            elif not all(tokens):
                problems["missing or empty token"].append(at)
            elif len(tokens) != len(tags or []):
                problems["tokens and tags differ in length"].append(f"{at} ({len(tokens)} vs {len(tags or [])})")
            converted = []
            for j, tag in enumerate(tags or []):
                tag_id = tag if isinstance(tag, int) and 0 <= tag < len(names) else to_id.get(tag)
                if tag_id is None:
                    word_at = f"line {lines[row] + j}" if lines else f"row {row} word {j}"
                    problems[self.tag_problem(tag)].append(f"{word_at} ({tag!r})")
                    tag_id = -1
                converted.append(tag_id)
            ids.append(converted)
        raise_if_problems(
            problems, where, "rows are 0-based sentences; lines are 1-based",
            f"Fix: correct these sentences; the label set is {names} (read from train, or data.label_names).",
        )  # fmt: skip
        return ids

    # ------------------------------------------------------------------ tokenization
    def tokenize(self, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
        prefix, suffix = special_framing(tokenizer)
        budget = max_length - len(prefix) - len(suffix)  # sub-tokens per window
        stride = self.cfg.stride
        if not 0 <= stride < budget // 2:
            raise ConfigError(f"data.stride={stride} must be >= 0 and < {budget // 2} (half a window).")
        names = self.label_names_from(split)
        inside = self.continuation(names)  # label_all_subtokens: the label of a word's later pieces
        all_subtokens = self.cfg.label_all_subtokens

        def encode(batch: dict, indices: list[int]) -> dict:
            # tokenize whole sentences, then cut windows ourselves: "first sub-token of a word" stays global
            enc = tokenizer(batch["tokens"], is_split_into_words=True, add_special_tokens=False)
            out = defaultdict(list)
            for s, tags in enumerate(batch["labels"]):
                ids, wids = enc["input_ids"][s], enc.word_ids(s)
                first = [w is not None and (g == 0 or wids[g - 1] != w) for g, w in enumerate(wids)]
                starts = windows(len(ids), budget, stride)
                first_positions = [g for g, f in enumerate(first) if f]
                owner = dict(
                    zip(first_positions, owner_windows(first_positions, starts, budget, len(ids)), strict=True)
                )
                for k, start in enumerate(starts):
                    span = range(start, min(start + budget, len(ids)))
                    labels = [
                        tags[wids[g]] if first[g] else inside[tags[wids[g]]] if all_subtokens else -100 for g in span
                    ]
                    scored = [wids[g] if first[g] and owner[g] == k else -1 for g in span]
                    out["input_ids"].append(prefix + ids[span.start : span.stop] + suffix)
                    out["labels"].append([-100] * len(prefix) + labels + [-100] * len(suffix))
                    out["word_ids"].append([-1] * len(prefix) + scored + [-1] * len(suffix))
                    out["sentence"].append(indices[s])
                    out["tags"].append(tags if k == 0 else [])  # gold of every word, once per sentence
                    out["words"].append(batch["tokens"][s] if k == 0 else [])  # for reports
                    out["length"].append(len(span) + len(prefix) + len(suffix))
                    out["truncated"].append(k == 0 and len(starts) > 1)
                    out["unrepresented"].append(len(tags) - len(first_positions) if k == 0 else 0)
            return dict(out)

        return split.map(
            encode, batched=True, with_indices=True, remove_columns=split.column_names, keep_in_memory=True
        )

    @staticmethod
    def label_names_from(split: Dataset) -> list[str]:
        return list(split.features["labels"].feature.names)

    def _stats(self, split: Dataset) -> dict:
        stats = super()._stats(split)
        stats["sentences"] = len(np.unique(column(split, "sentence")))
        stats["words_without_subtokens"] = int(column(split, "unrepresented").sum())
        return stats

    def _report(self, meta: dict) -> None:
        super()._report(meta)
        for name, s in meta["splits"].items():
            if s["words_without_subtokens"]:
                log.warning("%s: %d words produce no sub-token with this tokenizer; %s.",
                            name, s["words_without_subtokens"], self.unrepresented_note)  # fmt: skip
