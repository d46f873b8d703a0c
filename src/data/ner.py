"""Named-entity recognition (token classification) data: CoNLL-2003 by default, any BIO-tagged corpus.

Sources: the hub, Parquet/JSON with `tokens`/`ner_tags` list columns, or classic CoNLL text files
(`token ... tag` per line, blank line between sentences, `-DOCSTART-` lines skipped).

Sentences longer than `max_length` sub-tokens are split into overlapping windows (`stride` shared
sub-tokens). Every word is scored in exactly one window (the one giving it the most context on both
sides), and evaluation reassembles whole sentences, so no gold entity is ever left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cached_property
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Sequence, Value
from transformers import PreTrainedTokenizerBase

from src.data.base import SPLITS, TokenizedDataModule, raise_if_problems, special_framing
from src.data.sources import RawData
from src.models.backbone import needs_prefix_space
from src.utils.log import get_logger

log = get_logger(__name__)
TAG = re.compile(r"^(O|[BI]-.+)$")


def read_conll(path: Path, tag_column: int = -1) -> Dataset:
    """One row per sentence: `tokens`, `ner_tags` (strings) and `line` (1-based line of its first token)."""
    rows: dict[str, list] = {"tokens": [], "ner_tags": [], "line": []}
    sentence: list[list[str]] = []
    first_line = 0

    def flush() -> None:
        if sentence:
            rows["tokens"].append([f[0] for f in sentence])
            rows["ner_tags"].append([f[tag_column] for f in sentence])
            rows["line"].append(first_line)
            sentence.clear()

    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            fields = raw.split()
            if not fields or fields[0] == "-DOCSTART-":
                flush()
                continue
            if len(fields) < 2:
                raise ValueError(
                    f"{path}:{number}: expected 'token ... tag' (two or more whitespace-separated fields), "
                    f"got {raw.rstrip()!r}. Fix the line, or put a blank line between sentences."
                )
            if not sentence:
                first_line = number
            sentence.append(fields)
    flush()
    if not rows["tokens"]:
        raise ValueError(f"{path}: no sentences found (expected 'token ... tag' lines).")
    return Dataset.from_dict(rows)


def complete_tag_set(tags: set[str]) -> list[str]:
    """O first, then B-/I- of every entity type, types sorted: the label order of exported models."""
    types = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def windows(n_tokens: int, budget: int, stride: int) -> list[int]:
    """Start offsets of windows of `budget` tokens covering `n_tokens`, consecutive ones sharing `stride`."""
    starts = [0]
    while starts[-1] + budget < n_tokens:
        starts.append(starts[-1] + budget - stride)
    return starts


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


class NERDataModule(TokenizedDataModule):
    """Token classification data: validates tokens/tags, aligns word labels to sub-tokens, windows long sentences."""

    task = "ner"
    task_keys = {"tokens_column", "tags_column", "label_names", "conll_tag_column", "label_all_subtokens", "stride"}  # noqa: RUF012
    columns = ("input_ids", "labels", "word_ids", "sentence", "tags")
    group_column = "sentence"
    long_rows = (
        "were longer than max_length={max_length} sub-tokens and were split into windows sharing {stride} "
        "sub-tokens (each word is scored once, in the window where it has the most context)"
    )

    @property
    def readers(self) -> dict:  # type: ignore[override]
        column = int(self.cfg.get("conll_tag_column", -1))
        reader = lambda path: read_conll(path, column)  # noqa: E731
        return {".txt": reader, ".conll": reader}

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        tokenizer = self._load_tokenizer()
        return self._load_tokenizer(add_prefix_space=True) if needs_prefix_space(tokenizer) else tokenizer

    # ------------------------------------------------------------------ validation
    def validate(self, raw: RawData) -> tuple[DatasetDict, list[str]]:
        tok_col, tag_col = self.cfg["tokens_column"], self.cfg["tags_column"]
        if "train" not in raw.splits:
            raise ValueError(f"data.path={self.cfg['path']!r} has no train split (found {sorted(raw.splits)}).")
        for name in (s for s in SPLITS if s in raw.splits):
            missing = [c for c in (tok_col, tag_col) if c not in raw.splits[name].column_names]
            if missing:
                raise KeyError(
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
        return out, names

    def _label_names(self, raw: RawData, tag_col: str) -> list[str]:
        feature = raw.splits["train"].features[tag_col]
        inner = getattr(feature, "feature", None)
        configured = self.cfg.get("label_names")
        if isinstance(inner, ClassLabel):
            return list(configured or inner.names)
        if isinstance(inner, Value) and inner.dtype.startswith("int"):
            if not configured:
                raise ValueError(
                    f"{raw.where('train')}: tags are integers without names. Fix: data.label_names=[O, B-PER, ...] "
                    "(the tag of id 0 first)."
                )
            return list(configured)
        if configured:
            return list(configured)
        seen = {t for row in raw.splits["train"][tag_col] for t in row if isinstance(t, str)}
        return complete_tag_set(seen)

    def _check_split(self, ds: Dataset, tok_col: str, tag_col: str, names: list[str], where: str) -> list[list[int]]:
        """Tag ids per sentence; raises naming rows (or CoNLL lines) for every kind of problem."""
        to_id = {n: i for i, n in enumerate(names)}
        lines = ds["line"] if "line" in ds.column_names else None
        problems: dict[str, list[str]] = defaultdict(list)
        ids: list[list[int]] = []
        for row, (tokens, tags) in enumerate(zip(ds[tok_col], ds[tag_col], strict=True)):
            at = f"line {lines[row]}" if lines else f"row {row}"
            if not tokens:
                problems["empty sentence"].append(at)
            elif not all(isinstance(t, str) and t for t in tokens):
                problems["missing or empty token"].append(at)
            elif len(tokens) != len(tags or []):
                problems["tokens and tags differ in length"].append(f"{at} ({len(tokens)} vs {len(tags or [])})")
            converted = []
            for tag in tags or []:
                tag_id = tag if isinstance(tag, int) and 0 <= tag < len(names) else to_id.get(tag)
                if tag_id is None:
                    malformed = isinstance(tag, str) and not TAG.match(tag)
                    problems[
                        "malformed tag (use O, B-TYPE, I-TYPE)" if malformed else "tag not in the label set"
                    ].append(f"{at} ({tag!r})")
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
        stride = int(self.cfg.get("stride", 32))
        if not 0 <= stride < budget // 2:
            raise ValueError(f"data.stride={stride} must be >= 0 and < {budget // 2} (half a window).")
        names = self.label_names_from(split)
        # label_all_subtokens: a word's continuation pieces get its I- tag (B-PER -> I-PER)
        inside = [names.index("I-" + n[2:]) if n.startswith("B-") else i for i, n in enumerate(names)]
        all_subtokens = bool(self.cfg.get("label_all_subtokens", False))

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
        stats["sentences"] = len(set(split["sentence"]))
        stats["words_without_subtokens"] = int(sum(split["unrepresented"]))
        return stats

    def _report(self, meta: dict) -> None:
        super()._report(meta)
        for name, s in meta["splits"].items():
            if s["words_without_subtokens"]:
                log.warning(
                    "%s: %d words produce no sub-token with this tokenizer; they are predicted O (an entity "
                    "among them counts as missed).", name, s["words_without_subtokens"],
                )  # fmt: skip
