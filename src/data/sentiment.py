"""Sentiment (sequence classification) data: IMDB by default, any text/label table from the hub or local files."""

from __future__ import annotations

from collections import defaultdict

from datasets import ClassLabel, Dataset, DatasetDict, Value
from transformers import PreTrainedTokenizerBase

from src.data.base import SPLITS, TokenizedDataModule, raise_if_problems, special_framing
from src.data.sources import RawData
from src.utils.log import get_logger

log = get_logger(__name__)
TRUNCATION_MODES = ("head", "tail", "head+tail")


def truncate(ids: list[int], budget: int, mode: str = "head", head_tokens: int = 128) -> list[int]:
    """Keep `budget` tokens: the start (head), the end (tail) or both ends (head+tail).

    head+tail keeps `head_tokens` from the start and the rest from the end, the best of the strategies
    Sun et al. (2019, "How to Fine-Tune BERT for Text Classification") compared on IMDB.
    """
    if len(ids) <= budget:
        return ids
    if mode == "head":
        return ids[:budget]
    if mode == "tail":
        return ids[-budget:]
    head = min(head_tokens, budget)
    return ids[:head] + (ids[-(budget - head) :] if budget > head else [])


class SentimentDataModule(TokenizedDataModule):
    """Text classification data: validates labels/texts, tokenizes once, pads per batch."""

    task = "sentiment"
    task_keys = {"text_column", "label_column", "label_names", "truncation", "head_tokens"}  # noqa: RUF012
    columns = ("input_ids", "labels", "idx")
    stratify = True

    # ------------------------------------------------------------------ validation
    def validate(self, raw: RawData) -> tuple[DatasetDict, list[str]]:
        text_col, label_col = self.cfg["text_column"], self.cfg["label_column"]
        if self.cfg.get("truncation", "head") not in TRUNCATION_MODES:
            raise ValueError(f"data.truncation={self.cfg['truncation']!r}: use one of {TRUNCATION_MODES}.")
        for name, ds in raw.splits.items():
            missing = [c for c in (text_col, label_col) if c not in ds.column_names]
            if missing and name in SPLITS:
                raise KeyError(
                    f"{raw.where(name)}: column {missing[0]!r} not found; columns are {ds.column_names}. "
                    f"Fix: data.text_column=<name> / data.label_column=<name>."
                )
        ignored = sorted(set(raw.splits) - set(SPLITS))
        if ignored:
            log.info("Ignoring splits %s (only %s are used).", ignored, ", ".join(SPLITS))
        train = raw.splits.get("train")
        if train is None:
            raise ValueError(f"data.path={self.cfg['path']!r} has no train split (found {sorted(raw.splits)}).")
        names, to_id = self._label_mapping(train.features[label_col], train[label_col], raw.where("train"))
        out = DatasetDict()
        for name in (s for s in SPLITS if s in raw.splits):
            ds = raw.splits[name]
            ids = self._check_split(ds[text_col], ds[label_col], to_id, names, raw.where(name))
            out[name] = (
                ds.select_columns([text_col])
                .rename_columns({text_col: "text"} if text_col != "text" else {})
                .add_column("labels", ids)
                .cast_column("labels", ClassLabel(names=names))
            )
        return out, names

    def _label_mapping(self, feature, values: list, where: str) -> tuple[list[str], dict]:
        """Label names and a value -> id map. Integer labels are indices into data.label_names."""
        configured = self.cfg.get("label_names")
        if isinstance(feature, ClassLabel):
            names = list(feature.names)
            if configured:
                if len(configured) != len(names):
                    raise ValueError(
                        f"data.label_names={list(configured)} has {len(configured)} names but the dataset "
                        f"defines {len(names)}: {names}. Fix: data.label_names=null or {len(names)} names."
                    )
                names = list(configured)
            return names, {i: i for i in range(len(names))}
        dtype = feature.dtype if isinstance(feature, Value) else None
        if dtype in ("string", "large_string"):
            names = list(configured) if configured else sorted({v for v in values if isinstance(v, str)})
            return names, {n: i for i, n in enumerate(names)}
        if dtype is not None and dtype.startswith(("int", "uint", "bool")):
            if configured:
                return list(configured), {i: i for i in range(len(configured))}
            seen = sorted({int(v) for v in values if v is not None})
            log.info("Integer labels without data.label_names: classes %s.", seen)
            return [str(v) for v in seen], {v: i for i, v in enumerate(seen)}
        raise TypeError(f"{where}: label column has type {feature}; use integer or string labels.")

    def _check_split(self, texts: list, labels: list, to_id: dict, names: list[str], where: str) -> list[int]:
        """Label ids for one split; raises listing every kind of bad row (empty text, unknown label)."""
        problems: dict[str, list[str]] = defaultdict(list)
        ids: list[int] = []
        for row, (text, label) in enumerate(zip(texts, labels, strict=True)):
            if not isinstance(text, str) or not text.strip():
                problems["empty or missing text"].append(f"row {row}")
            key = int(label) if isinstance(label, (bool, int)) else label
            if key not in to_id:
                what = f"label {label!r} is not one of {names}" if label is not None else "missing label"
                problems[what].append(f"row {row}")
            ids.append(to_id.get(key, -1))
        raise_if_problems(
            problems, where, "rows are 0-based, in file order",
            f"Fix: drop or correct these rows; the label set is data.label_names (now {names}), "
            "integer labels are indices into it.",
        )  # fmt: skip
        return ids

    # ------------------------------------------------------------------ tokenization
    def tokenize(self, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
        prefix, suffix = special_framing(tokenizer)
        budget = max_length - len(prefix) - len(suffix)
        mode, head = self.cfg.get("truncation", "head"), int(self.cfg.get("head_tokens", 128))

        def encode(batch: dict, indices: list[int]) -> dict:
            # tokenize untruncated, then cut ourselves: we learn which rows were truncated and can keep head+tail
            full = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
            ids = [prefix + truncate(x, budget, mode, head) + suffix for x in full]
            return {
                "idx": indices,  # row in this split: reports look the text up by it
                "input_ids": ids,
                "length": [len(x) for x in ids],
                "truncated": [len(x) > budget for x in full],
                "full_length": [len(x) + len(prefix) + len(suffix) for x in full],
            }

        return split.map(encode, batched=True, with_indices=True, desc="tokenizing", keep_in_memory=True)
