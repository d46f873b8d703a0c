"""Sequence classification data: one text or a sentence pair per row; single-label, multi-label or regression.

Labels, by `data.problem_type` (null: inferred from the label column, the inference is logged):
- single_label: integer ids (indices into data.label_names), strings (names), or a ClassLabel column;
- multi_label: a list column (names or ids), a delimited string (`data.label_delimiter`), or one 0/1 column
  per label (`data.label_column=[anger, joy, ...]`); a row may have no label;
- regression: numbers (optionally normalised to zero mean, unit variance on train: `data.normalize_targets`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Value
from datasets import Sequence as SequenceFeature
from transformers import PreTrainedTokenizerBase

from src.data.base import SPLITS, TokenizedDataModule, column, raise_if_problems, values
from src.data.sequences import special_framing, truncate
from src.data.sources import RawData
from src.tasks.classification.config import TextData
from src.utils.errors import ConfigError, DataError
from src.utils.log import get_logger

log = get_logger(__name__)
SINGLE, MULTI, REGRESSION = "single_label_classification", "multi_label_classification", "regression"
PROBLEM_TYPES = {"single_label": SINGLE, "multi_label": MULTI, "regression": REGRESSION}
PROBLEM_TYPES |= {v: v for v in PROBLEM_TYPES.values()}  # the Hugging Face names work too


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


def is_number(value: Any) -> bool:
    """A number, or a string that reads as one ("3", " 2.5 ", "1e-3"); booleans are not."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return True


def check_label_kinds(labels: Sequence[Any], column_name: str, where: str) -> None:
    """A label column whose values are partly numbers and partly not (`1`, `0`, `pos`; or a score column with a
    junk cell) is refused, naming the rows of the smaller kind: read as class names, it would silently become a
    classifier over every distinct value."""
    rows = [(row, value) for row, value in enumerate(labels) if not missing(value)]
    numbers = [(row, value) for row, value in rows if is_number(value)]
    if not numbers or len(numbers) == len(rows):
        return
    others = [(row, value) for row, value in rows if not is_number(value)]
    if len(numbers) >= len(others):
        what, odd = f"not a number, while {len(numbers)} other rows are numbers (a typo in a score column?)", others
    else:
        what, odd = f"a number, while {len(others)} other rows are names", numbers
    raise_if_problems(
        {f"label in column {column_name!r} is {what}": [f"row {row} ({value!r})" for row, value in odd]},
        where, "rows are 0-based, in file order",
        "Fix: correct these rows. A label column holds class names, class ids or numeric targets, not a mix; if "
        "these are all class names, say so: data.problem_type=single_label.",
    )  # fmt: skip


def check_label_names(labels: Sequence[Any], names: list[str], where: str) -> None:
    """Label names that differ only by surrounding spaces are one label written two ways: refused, naming the rows.
    Names holding line breaks, tabs or `|` are kept (reports escape them) but said before training."""
    by_form: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_form[name.strip()].append(name)
    problems: dict[str, list[str]] = defaultdict(list)
    for form, variants in by_form.items():
        if len(variants) > 1:
            odd = [v for v in variants if v != form] or variants[1:]
            where_odd = [f"row {row} ({value!r})" for row, value in enumerate(labels) if value in odd]
            problems[f"label {form!r} is also written {odd} (surrounding spaces)"] += where_odd
    fix = "Fix: write each label one way (strip the spaces), or name the labels: data.label_names=[...]."
    raise_if_problems(problems, where, "rows are 0-based, in file order", fix)
    odd_names = [n for n in names if any(c in n for c in "\n\r\t|") or not n.isprintable()]
    if odd_names:
        log.warning("%s: label names %s hold line breaks, tabs, `|` or control characters; reports escape them.",
                    where, odd_names)  # fmt: skip


def check_text_column(ds: Dataset, name: str, where: str) -> None:
    """A text column whose type is not text (every value a number: an id column named by data.text_column?)."""
    feature = ds.features[name]
    if isinstance(feature, Value) and feature.dtype not in ("string", "large_string", "null"):
        raise DataError(
            f"{where}: column {name!r} holds {feature.dtype} values, not texts (e.g. {values(ds, name)[:3]}). "
            "Fix: point data.text_column (or data.text_pair_column) at the column of texts."
        )


class ClassificationDataModule(TokenizedDataModule):
    """Text (or text pair) classification data: validates texts and labels, tokenizes once, pads per batch."""

    task_name = "classification"
    config_class = TextData
    _problem_type: str | None = None  # decided by validate() (or read back from the cache's meta)

    # ------------------------------------------------------------------ config
    @property
    def label_spec(self) -> str | list[str]:
        spec = self.cfg.label_column
        return list(spec) if isinstance(spec, (list, tuple)) else spec

    @property
    def text_columns(self) -> list[str]:
        return [self.cfg.text_column, *([self.cfg.text_pair_column] if self.cfg.text_pair_column else [])]

    @property
    def stratify_column(self) -> str | None:
        return "labels" if self.meta.get("info", {}).get("problem_type", self._problem_type) == SINGLE else None

    def min_length(self, tokenizer: PreTrainedTokenizerBase) -> tuple[int, str]:
        if len(self.text_columns) == 1:
            return super().min_length(tokenizer)
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        return specials + 2, f"{specials} special tokens of a pair and one token of each text"

    def batch_columns(self) -> list[str]:
        extra = ["token_type_ids"] if "token_type_ids" in self.splits["train"].column_names else []
        return ["input_ids", "labels", "idx", *extra]

    # ------------------------------------------------------------------ validation
    def validate(self, raw: RawData) -> tuple[DatasetDict, dict[str, Any]]:
        labels = [self.label_spec] if isinstance(self.label_spec, str) else self.label_spec
        for name, ds in raw.splits.items():
            absent = [c for c in (*self.text_columns, *labels) if c not in ds.column_names]
            if absent and name in SPLITS:
                raise ConfigError(
                    f"{raw.where(name)}: column {absent[0]!r} not found; columns are {ds.column_names}. "
                    "Fix: data.text_column=<name> / data.text_pair_column=<name> / data.label_column=<name or list>."
                )
        ignored = sorted(set(raw.splits) - set(SPLITS))
        if ignored:
            log.info("Ignoring splits %s (only %s are used).", ignored, ", ".join(SPLITS))
        if "train" not in raw.splits:
            raise DataError(f"data.path={self.cfg.path!r} has no train split (found {sorted(raw.splits)}).")
        train = raw.splits["train"]
        self._problem_type = self._infer_problem_type(train, raw.where("train"))
        encode, names = {SINGLE: self._single, MULTI: self._multi, REGRESSION: self._regression}[self._problem_type](
            train, raw.where("train")
        )
        out = DatasetDict()
        for name in (s for s in SPLITS if s in raw.splits):
            out[name] = self._canonical(raw.splits[name], encode, names, raw.where(name))
        info = {"label_names": names, "problem_type": self._problem_type, "text_pair": len(self.text_columns) == 2}
        return out, info

    def _infer_problem_type(self, train: Dataset, where: str) -> str:
        configured = self.cfg.problem_type  # one of PROBLEM_TYPES (the schema checks it)
        if configured is not None:
            return PROBLEM_TYPES[configured]
        spec = self.label_spec
        if not isinstance(spec, str) or self.cfg.label_delimiter:
            found = MULTI
        else:
            feature = train.features[spec]
            if isinstance(feature, (SequenceFeature, list)):
                found = MULTI
            elif isinstance(feature, Value) and feature.dtype.startswith("float"):
                present = [v for v in column(train, spec).tolist() if not missing(v)]
                found = SINGLE if all(float(v).is_integer() for v in present) else REGRESSION
            else:
                check_label_kinds(values(train, spec), spec, where)
                found = SINGLE
        log.info("data.problem_type=null: labels in %s read as %s (set data.problem_type to change it).", where, found)
        return found

    def _canonical(self, ds: Dataset, encode, names: list[str], where: str) -> Dataset:
        """text (text_pair) and labels columns; raises listing every bad row (empty text, bad label)."""
        problems: dict[str, list[str]] = defaultdict(list)
        texts = {c: values(ds, c) for c in self.text_columns}
        for col, texts_of_col in texts.items():
            check_text_column(ds, col, where)
            for row, text in enumerate(texts_of_col):
                if text is not None and not isinstance(text, str):
                    problems[f"text in column {col!r} is not a string"].append(f"row {row} ({text!r})")
                elif not text or not text.strip():
                    problems[f"empty or missing text in column {col!r}"].append(f"row {row}")
        rows = ds.select_columns([self.label_spec] if isinstance(self.label_spec, str) else self.label_spec)
        labels = encode(rows, problems)
        raise_if_problems(problems, where, "rows are 0-based, in file order", self._fix(names))
        out = Dataset.from_dict({"text": texts[self.text_columns[0]], "labels": labels})
        if len(self.text_columns) == 2:
            out = out.add_column("text_pair", texts[self.text_columns[1]])
        if self._problem_type == SINGLE:
            out = out.cast_column("labels", ClassLabel(names=names))
        return out

    def _fix(self, names: list[str]) -> str:
        if self._problem_type == REGRESSION:
            return "Fix: drop or correct these rows (texts must be non-empty, targets finite numbers)."
        if self.cfg.label_names:
            return (
                f"Fix: drop or correct these rows. The label set is data.label_names={names} (from the data "
                "config); if your data has other labels, set data.label_names=null to read them from the data."
            )
        return f"Fix: drop or correct these rows; the label set is {names}, read from the train split."

    # ---- single label
    def _single(self, train: Dataset, where: str):
        feature = train.features[self.label_spec]
        names, to_id = self._label_mapping(feature, values(train, self.label_spec), where)

        def encode(rows: Dataset, problems: dict) -> list[int]:
            ids = []
            for row, label in enumerate(values(rows, self.label_spec)):
                key = int(label) if isinstance(label, (bool, int, np.integer)) else label
                if isinstance(label, float) and not math.isnan(label) and label.is_integer():
                    key = int(label)
                if missing(label):
                    problems["missing label (empty or NaN)"].append(f"row {row}")
                elif key not in to_id:
                    problems[f"label {label!r} is not one of {names}"].append(f"row {row}")
                ids.append(to_id.get(key, -1))
            return ids

        return encode, names

    def _label_mapping(self, feature, labels: list, where: str) -> tuple[list[str], dict]:
        """Label names and a value -> id map. Integer labels are indices into data.label_names."""
        configured = self.cfg.label_names
        if isinstance(feature, ClassLabel):
            names = list(feature.names)
            if configured:
                if len(configured) != len(names):
                    raise ConfigError(
                        f"data.label_names={list(configured)} has {len(configured)} names but the dataset "
                        f"defines {len(names)}: {names}. Fix: data.label_names=null or {len(names)} names."
                    )
                names = list(configured)
            return names, {i: i for i in range(len(names))}
        dtype = feature.dtype if isinstance(feature, Value) else None
        if dtype in ("string", "large_string"):
            names = list(configured) if configured else sorted({v for v in labels if isinstance(v, str) and v})
            if not configured:
                check_label_names(labels, names, where)
            return names, {n: i for i, n in enumerate(names)}
        if dtype is not None and dtype.startswith(("int", "uint", "bool", "float")):
            if configured:
                return list(configured), {i: i for i in range(len(configured))}
            seen = sorted({int(v) for v in labels if not missing(v)})
            log.info("Integer labels without data.label_names: classes %s.", seen)
            return [str(v) for v in seen], {v: i for i, v in enumerate(seen)}
        raise DataError(f"{where}: label column has type {feature}; use integer or string labels.")

    # ---- multi label
    def _multi(self, train: Dataset, where: str):
        spec, configured = self.label_spec, self.cfg.label_names
        if isinstance(spec, list):  # one 0/1 column per label
            names = list(configured or spec)
            if len(names) != len(spec):
                raise ConfigError(f"data.label_names has {len(names)} names for {len(spec)} label columns {spec}.")

            def encode(rows: Dataset, problems: dict) -> list[list[float]]:
                table = {c: values(rows, c) for c in spec}
                vectors = []
                for row in range(len(rows)):
                    vector = []
                    for c in spec:
                        value = table[c][row]
                        if missing(value) or value not in (0, 1):
                            problems[f"column {c!r} must be 0 or 1"].append(f"row {row} ({value!r})")
                        vector.append(1.0 if value == 1 else 0.0)
                    vectors.append(vector)
                return vectors

            return encode, names
        sets = [self._label_set(v) for v in values(train, spec)]
        numeric = any(isinstance(x, (int, np.integer)) for s in sets if s for x in s)
        if numeric and not configured:
            raise ConfigError(f"{where}: labels are integers without names. Fix: data.label_names=[name of 0, ...].")
        names = list(configured) if configured else sorted({x for s in sets if s for x in s})
        to_id = {n: i for i, n in enumerate(names)} if not numeric else {i: i for i in range(len(names))}

        def encode(rows: Dataset, problems: dict) -> list[list[float]]:
            vectors = []
            for row, value in enumerate(values(rows, spec)):
                vector = [0.0] * len(names)
                labels = self._label_set(value)
                if labels is None:
                    problems["missing labels (use an empty list or empty string for none)"].append(f"row {row}")
                for label in labels or []:
                    if label not in to_id:
                        problems[f"label {label!r} is not one of {names}"].append(f"row {row}")
                    else:
                        vector[to_id[label]] = 1.0
                vectors.append(vector)
            return vectors

        return encode, names

    def _label_set(self, value: Any) -> list | None:
        """The labels of one row: a list column, or a delimited string (data.label_delimiter; an empty cell
        is a row without labels, as CSV cannot tell an empty string from a missing one)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return [] if self.cfg.label_delimiter else None
        if isinstance(value, str):
            delimiter = self.cfg.label_delimiter
            if not delimiter:
                raise ConfigError(
                    f"data.label_column={self.label_spec!r} holds strings such as {value!r} but problem_type is "
                    "multi_label. Fix: data.label_delimiter=',' (or the separator your file uses)."
                )
            return [part.strip() for part in value.split(delimiter) if part.strip()]
        return [int(x) if isinstance(x, (np.integer, bool)) else x for x in value]

    # ---- regression
    def _regression(self, train: Dataset, where: str):
        spec = self.label_spec
        if not isinstance(spec, str):
            raise ConfigError(f"data.label_column={spec}: regression takes one numeric column.")
        names = list(self.cfg.label_names or [spec])
        if len(names) != 1:
            raise ConfigError(f"data.label_names={names}: regression has one output; give one name or null.")

        def encode(rows: Dataset, problems: dict) -> list[float]:
            targets = []
            for row, value in enumerate(values(rows, spec)):
                number = None
                if not missing(value) and not isinstance(value, bool):
                    try:
                        number = float(value)
                    except (TypeError, ValueError):
                        number = None
                if number is None or not math.isfinite(number):
                    problems["target is not a finite number"].append(f"row {row} ({value!r})")
                targets.append(number if number is not None and math.isfinite(number) else 0.0)
            return targets

        return encode, names

    # ------------------------------------------------------------------ checks on the final splits
    def describe(self, splits: DatasetDict, info: dict[str, Any]) -> dict[str, Any]:
        train, names, where = splits["train"], info["label_names"], "the train split (after carving)"
        if self._problem_type == SINGLE:
            counts = np.bincount(column(train, "labels"), minlength=len(names))
            if (counts > 0).sum() < 2:
                only = [names[i] for i in np.flatnonzero(counts)]
                raise DataError(
                    f"{where} holds a single class {only}: a classifier cannot learn from it. "
                    "Fix: check data.label_column and the file, or add rows of the other classes."
                )
            if (counts == 0).any():
                log.warning("Labels never seen in train: %s.", [names[i] for i in np.flatnonzero(counts == 0)])
        elif self._problem_type == MULTI:
            positives = np.asarray(values(train, "labels")).sum(axis=0)
            absent = [n for n, p in zip(names, positives, strict=True) if p == 0]
            if absent:
                log.warning("Labels never positive in train (they cannot be learnt): %s.", absent)
        else:
            targets = column(train, "labels").astype(float)
            if self.cfg.normalize_targets:
                std = float(targets.std())
                info |= {"target_mean": float(targets.mean()), "target_std": std if std > 0 else 1.0}
        return info

    # ------------------------------------------------------------------ tokenization
    def tokenize(self, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
        encode = self._encode_pairs if "text_pair" in split.column_names else self._encode_texts
        return split.map(
            lambda batch, indices: {"idx": indices, **encode(batch, tokenizer, max_length)},
            batched=True, with_indices=True, desc="tokenizing", keep_in_memory=True,
        )  # fmt: skip

    def _encode_texts(self, batch: dict, tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict:
        prefix, suffix = special_framing(tokenizer)
        budget = max_length - len(prefix) - len(suffix)
        mode, head = self.cfg.truncation, self.cfg.head_tokens
        # tokenize untruncated, then cut ourselves: we learn which rows were truncated and can keep head+tail
        full = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        ids = [prefix + truncate(x, budget, mode, head) + suffix for x in full]
        return {
            "input_ids": ids,
            "length": [len(x) for x in ids],
            "truncated": [len(x) > budget for x in full],
            "full_length": [len(x) + len(prefix) + len(suffix) for x in full],
        }

    @staticmethod
    def _encode_pairs(batch: dict, tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict:
        """The tokenizer's own pair template and `longest_first` truncation (what the pipeline applies too)."""
        enc = tokenizer(batch["text"], batch["text_pair"], truncation="longest_first", max_length=max_length)
        full = [len(x) for x in tokenizer(batch["text"], batch["text_pair"])["input_ids"]]
        out = {
            "input_ids": enc["input_ids"],
            "length": [len(x) for x in enc["input_ids"]],
            "truncated": [f > max_length for f in full],
            "full_length": full,
        }
        if "token_type_ids" in enc and "token_type_ids" in tokenizer.model_input_names:
            out["token_type_ids"] = enc["token_type_ids"]
        return out

    # ------------------------------------------------------------------ hand-off to the module
    def model_args(self, class_weights: str | list[float] | None = None) -> dict[str, Any]:
        info = self.info
        args = {"label_names": info["label_names"], "problem_type": info["problem_type"],
                "text_pair": info["text_pair"]}  # fmt: skip
        if info["problem_type"] == SINGLE:
            args["class_weights"] = self.class_weights(class_weights)
        elif info["problem_type"] == MULTI:
            args["class_weights"] = self.positive_weights(class_weights)
        else:
            if class_weights is not None:
                raise ConfigError("model.class_weights applies to classification, not regression: set it to null.")
            args |= {k: info[k] for k in ("target_mean", "target_std") if k in info}
        return args

    def positive_weights(self, spec: str | Sequence[float] | None) -> list[float] | None:
        """Multi-label `model.class_weights`: BCE's pos_weight per label; `balanced` = negatives / positives."""
        if spec is None:
            return None
        names = self.label_names
        if spec == "balanced":
            labels = np.asarray(self.splits["train"]["labels"])
            positives = labels.sum(axis=0)
            never = [n for n, p in zip(names, positives, strict=True) if p == 0]
            if never:
                raise DataError(f"model.class_weights=balanced: labels {never} are never positive in train.")
            return ((len(labels) - positives) / positives).tolist()
        weights = [float(w) for w in spec]
        if len(weights) != len(names):
            raise ConfigError(f"model.class_weights has {len(weights)} values; the labels are {names}.")
        return weights
