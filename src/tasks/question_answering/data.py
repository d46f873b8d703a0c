"""Extractive question answering data (SQuAD v1.1 and v2.0 shapes): a question, a context, and the answers as
character spans of the context, `answers: {text: [...], answer_start: [...]}` (an unanswerable v2 question
has empty lists).

Every question + context pair is tokenized as run_qa.py does: one pair, the question first, only the context
truncated, contexts longer than a window read in several windows sharing `doc_stride` tokens. A training
window is labelled with the token positions of the question's first answer, or with CLS (position 0) when the
window does not hold the whole answer. Evaluation windows keep their context tokens' character offsets and the
question they belong to (`example`, the group the evaluation sampler keeps in one batch); the question's first
window also carries its context and gold answers, so the module scores whole questions batch by batch.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from transformers import PreTrainedTokenizerBase

from src.data.base import SPLITS, TokenizedDataModule, column, raise_if_problems, values
from src.data.sequences import special_framing
from src.data.sources import RawData
from src.tasks.question_answering.config import QuestionAnsweringData
from src.utils.errors import ConfigError, DataError
from src.utils.log import get_logger

log = get_logger(__name__)
SHAPE = "answers is not {text: [str, ...], answer_start: [int, ...]} with lists of equal length"
ROWS = "rows are 0-based, in file order"


def short(text: str, limit: int = 60) -> str:
    """A string for an error message: quoted, cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def answer_lists(value: Any) -> tuple[list[str], list[int]] | None:
    """The answer texts and character starts of one row, or None when the value is not in the SQuAD schema."""
    if not isinstance(value, dict) or not {"text", "answer_start"} <= set(value):
        return None
    texts, starts = value["text"], value["answer_start"]
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        return None
    if not all(isinstance(t, str) for t in texts) or not all(type(s) is int for s in starts):
        return None
    return texts, starts


def answer_tokens(offsets: np.ndarray, first: int, last: int, start: int, end: int) -> tuple[int, int] | None:
    """Token positions of the answer [start, end) (characters) in a window whose context tokens are first..last,
    or None when the window does not hold it whole. The positions are the tokens holding the answer's first
    and last characters (run_qa.py's rule), found by binary search: offsets increase along the context."""
    if offsets[first, 0] > start or offsets[last, 1] < end:
        return None
    s = first + int(np.searchsorted(offsets[first : last + 1, 0], start, side="right")) - 1
    e = first + int(np.searchsorted(offsets[first : last + 1, 1], end, side="left"))
    return s, max(e, s)


class QuestionAnsweringDataModule(TokenizedDataModule):
    """SQuAD-style data: validates every row, infers v1/v2, tokenizes into windows, labels start/end tokens."""

    task_name = "question_answering"
    config_class = QuestionAnsweringData
    aligned = {"offset_start": -1, "offset_end": -1}  # noqa: RUF012 (token-aligned columns and their padding)
    group_column = "example"  # a question's windows are evaluated in one batch
    _train_only: str | None = None  # fingerprint of the train split, set by describe(): its windows keep no texts

    @property
    def doc_stride(self) -> int:
        return self.cfg.doc_stride

    def min_length(self, tokenizer: PreTrainedTokenizerBase) -> tuple[int, str]:
        """A window holds the pair's special tokens, a question of one token and more than doc_stride context
        tokens (consecutive windows share doc_stride; the tokenizer refuses a stride without new tokens)."""
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        why = f"{specials} special tokens, a one-token question and more than data.doc_stride={self.doc_stride} tokens"
        return specials + self.doc_stride + 2, why

    def batch_columns(self) -> list[str]:
        types = ["token_type_ids"] if "token_type_ids" in self.splits["train"].column_names else []
        return ["input_ids", *types, "start_positions", "end_positions", "example", "offset_start", "offset_end",
                "context", "golds"]  # fmt: skip

    # ------------------------------------------------------------------ validation
    def validate(self, raw: RawData) -> tuple[DatasetDict, dict[str, Any]]:
        self._check_settings()
        if "train" not in raw.splits:
            raise DataError(f"data.path={self.cfg.path!r} has no train split (found {sorted(raw.splits)}).")
        ignored = sorted(set(raw.splits) - set(SPLITS))
        if ignored:
            log.info("Ignoring splits %s (only %s are used).", ignored, ", ".join(SPLITS))
        out = DatasetDict()
        for name in (s for s in SPLITS if s in raw.splits):
            out[name] = self._canonical(raw.splits[name], raw.where(name))
        version_2 = self._version_2(out, raw)
        for name, split in out.items():
            self._check_question_lengths(split, raw.where(name))
        return out, {"label_names": None, "version_2": version_2}

    def _check_settings(self) -> None:
        prefix, _ = special_framing(self.tokenizer)
        if not prefix:
            raise ConfigError(
                f"{self.tokenizer_key}={self.tokenizer_name!r}: its tokenizer puts no token (CLS) before the text; "
                "question answering points unanswerable windows at position 0. Fix: use a BERT-style encoder."
            )
        minimum, why = self.min_length(self.tokenizer)
        if self.max_length < minimum:  # max_length as capped by the tokenizer's limit
            room = self.max_length - (minimum - self.doc_stride - 1)  # context tokens beside a one-token question
            raise ConfigError(
                f"data.doc_stride={self.doc_stride} leaves no new context tokens in windows of max_length="
                f"{self.max_length}: a window needs {minimum} ({why}). Fix: data.doc_stride<{room}, e.g. "
                f"{room // 3} (or a larger data.max_length if the tokenizer allows it)."
            )

    def _canonical(self, ds: Dataset, where: str) -> Dataset:
        """question (leading blanks dropped, as run_qa.py), context, answer_text, answer_start, id; raises
        listing every bad row."""
        names = {k: getattr(self.cfg, k) for k in ("question_column", "context_column", "answers_column")}
        absent = [c for c in names.values() if c not in ds.column_names]
        if absent:
            raise ConfigError(
                f"{where}: column {absent[0]!r} not found; columns are {ds.column_names}. "
                "Fix: data.question_column=<name> / data.context_column=<name> / data.answers_column=<name>."
            )
        questions, contexts = values(ds, names["question_column"]), values(ds, names["context_column"])
        problems: dict[str, list[str]] = defaultdict(list)
        texts, starts = self._answers(values(ds, names["answers_column"]), contexts, problems)
        for row, (question, context) in enumerate(zip(questions, contexts, strict=True)):
            if not isinstance(question, str) or not question.strip():
                problems["empty or missing question"].append(f"row {row}")
            if not isinstance(context, str) or not context.strip():
                problems["empty or missing context"].append(f"row {row}")
        if self.cfg.version_2 is False:
            unanswerable = [f"row {r}" for r, t in enumerate(texts) if not t]
            if unanswerable:
                problems["no answer (empty answers) but data.version_2=false"] = unanswerable
        raise_if_problems(problems, where, ROWS, (
            "Fix: correct or drop these rows. Each needs a question, a context and answers {text: [...], "
            "answer_start: [...]} with context[answer_start:answer_start+len(text)] == text; a SQuAD v2 "
            "unanswerable question has empty lists (data.version_2=true or null)."))  # fmt: skip
        id_column = self.cfg.id_column
        ids = [str(v) for v in values(ds, id_column)] if id_column in ds.column_names else None
        return Dataset.from_dict({
            "question": [q.lstrip() for q in questions], "context": contexts, "answer_text": texts,
            "answer_start": starts, "id": ids or [str(i) for i in range(len(ds))],
        })  # fmt: skip

    @staticmethod
    def _answers(answers: list, contexts: list, problems: dict) -> tuple[list[list[str]], list[list[int]]]:
        """Every row's answer texts and starts, each checked against its context (one pass, O(answers))."""
        all_texts, all_starts = [], []
        for row, (value, context) in enumerate(zip(answers, contexts, strict=True)):
            parsed = answer_lists(value)
            if parsed is None:
                problems[SHAPE].append(f"row {row} ({short(repr(value))})")
                parsed = ([], [])
            for text, start in zip(*parsed, strict=True):
                size = len(context) if isinstance(context, str) else 0
                if not text.strip():
                    problems["empty answer text"].append(f"row {row}")
                elif not 0 <= start <= size - len(text):
                    problems["answer_start out of range"].append(
                        f"row {row} (answer_start={start}, answer {short(text)}, context of {size} characters)"
                    )
                elif context[start : start + len(text)] != text:
                    found = context[start : start + len(text)]
                    problems["answer text differs from context[answer_start:answer_start+len(text)]"].append(
                        f"row {row} ({short(text)} vs context[{start}:{start + len(text)}]={short(found)})"
                    )
            all_texts.append(parsed[0])
            all_starts.append(parsed[1])
        return all_texts, all_starts

    def _version_2(self, splits: DatasetDict, raw: RawData) -> bool:
        """data.version_2, or (null) whether a train/validation question has no answer (logged)."""
        configured = self.cfg.version_2
        if configured is not None:
            return bool(configured)
        seen = {n: sum(not t for t in values(s, "answer_text")) for n, s in splits.items() if n != "test"}
        version_2 = any(seen.values())
        decision = "SQuAD v2: unanswerable questions are learnt" if version_2 else "SQuAD v1.1: every question answered"
        counts = ", ".join(f"{n}: {k} without an answer" for n, k in seen.items())
        log.info("data.version_2=null: %s (%s); set data.version_2 to decide.", decision, counts)
        test = values(splits["test"], "answer_text") if "test" in splits else []
        rows = [f"row {r}" for r, texts in enumerate(test) if not texts]
        if not version_2 and rows:
            fix = "Fix: data.version_2=true (learn unanswerable questions), or drop these rows."
            raise_if_problems({"no answer (empty answers) in a SQuAD v1.1 dataset": rows}, raw.where("test"), ROWS, fix)
        return version_2

    def _check_question_lengths(self, split: Dataset, where: str) -> None:
        """Refuse questions that leave a window no more context tokens than doc_stride (the tokenizer would fail)."""
        lengths = np.asarray([len(x) for x in self.tokenizer(values(split, "question"), add_special_tokens=False)[
            "input_ids"]])  # fmt: skip
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        room = self.max_length - lengths - specials  # context tokens per window
        bad = np.flatnonzero(room <= self.doc_stride)
        if len(bad):
            needed = int(lengths[bad].max()) + specials + self.doc_stride + 1
            places = [f"row {r} ({lengths[r]} tokens)" for r in bad.tolist()]
            raise_if_problems(
                {f"question too long for data.max_length={self.max_length} with data.doc_stride={self.doc_stride}":
                 places}, where, ROWS,
                f"Fix: data.max_length>={needed} (question + {specials} special tokens + more than doc_stride "
                "context tokens), a smaller data.doc_stride, or drop these rows.",
            )  # fmt: skip

    def describe(self, splits: DatasetDict, info: dict[str, Any]) -> dict[str, Any]:
        """Remember which split trains only: tokenize() is not told which split it reads, and only evaluation
        windows need offsets and texts (unless an evaluation split is the same data, e.g. test: train)."""
        train = splits["train"]._fingerprint
        shared = any(split._fingerprint == train for name, split in splits.items() if name != "train")
        self._train_only = None if shared else train
        return info

    # ------------------------------------------------------------------ tokenization
    def tokenize(self, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
        evaluation = split._fingerprint != self._train_only  # windows keep offsets and texts
        types = "token_type_ids" in tokenizer.model_input_names
        stride = self.doc_stride

        def encode(batch: dict, indices: list[int]) -> dict:
            enc = tokenizer(batch["question"], batch["context"], truncation="only_second", max_length=max_length,
                            stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                            return_token_type_ids=types)  # fmt: skip
            return windows_of(enc, batch, indices, stride, evaluation, types)

        return split.map(encode, batched=True, with_indices=True, remove_columns=split.column_names,
                         keep_in_memory=True, desc="tokenizing")  # fmt: skip

    def _stats(self, split: Dataset) -> dict:
        stats = super()._stats(split)
        first = column(split, "window") == 0
        stats |= {"questions": int(first.sum()), "windows": len(split), "multi_window": stats["truncated"],
                  "unanswerable": int((first & ~column(split, "answerable")).sum()),
                  "cut_answers": int(column(split, "cut").sum()),
                  "unaligned_answers": int(column(split, "unaligned").sum())}  # fmt: skip
        return stats

    def _report(self, meta: dict) -> None:
        for name, s in meta["splits"].items():
            log.info("%s: %d questions in %d windows (%d contexts longer than one window of max_length=%d, read in "
                     "windows sharing doc_stride=%d tokens); %d without an answer.", name, s["questions"], s["windows"],
                     s["multi_window"], meta["max_length"], self.doc_stride, s["unanswerable"])  # fmt: skip
            if s["cut_answers"]:
                log.warning("%s: %d answers lie whole in no window (longer than a window's context): their windows are "
                            "labelled with CLS (no answer). Fix: a larger data.max_length or doc_stride.",
                            name, s["cut_answers"])  # fmt: skip
            if s["unaligned_answers"]:
                log.warning("%s: %d answers do not begin or end on token boundaries: labelled with the tokens "
                            "holding their first and last characters (as run_qa.py).",
                            name, s["unaligned_answers"])  # fmt: skip

    # ------------------------------------------------------------------ hand-off to the module
    def model_args(self, class_weights: str | list[float] | None = None) -> dict[str, Any]:
        self.class_weights(class_weights)  # refuses weights: a QA head has no label set to weight
        return {"version_2": bool(self.info["version_2"]), "max_length": self.max_length,
                "doc_stride": self.doc_stride, "max_answer_length": self.cfg.max_answer_length,
                "n_best": self.cfg.n_best}  # fmt: skip


def question_windows(
    enc: Any, members: list[int], span: tuple[int, int] | None, stride: int, offsets_kept: bool
) -> tuple[list[dict], dict]:
    """The windows `members` of one question: each one's start/end labels (CLS = 0 when it does not hold the whole
    answer `span`) and, if `offsets_kept`, its context offsets (-1 elsewhere); and the question's counts: answer cut
    (in no window whole), answer unaligned (not on token boundaries), context tokens."""
    windows, found, aligned, context_tokens = [], False, True, 0
    for k, w in enumerate(members):
        offsets = np.asarray(enc["offset_mapping"][w], dtype=np.int64).reshape(-1, 2)  # (T, 2)
        in_context = np.asarray([s == 1 for s in enc.sequence_ids(w)])  # (T,)
        positions = np.flatnonzero(in_context)
        context_tokens += len(positions) - (stride if k else 0)  # consecutive windows share `stride` tokens
        tokens = answer_tokens(offsets, positions[0], positions[-1], *span) if span and len(positions) else None
        if tokens is not None:
            found = True
            aligned &= bool(offsets[tokens[0], 0] == span[0] and offsets[tokens[1], 1] == span[1])
        start, end = tokens or (0, 0)
        window = {"start_positions": start, "end_positions": end, "offset_start": [], "offset_end": []}
        if offsets_kept:
            window["offset_start"] = np.where(in_context, offsets[:, 0], -1).tolist()
            window["offset_end"] = np.where(in_context, offsets[:, 1], -1).tolist()
        windows.append(window)
    counts = {
        "cut": span is not None and not found,
        "unaligned": found and not aligned,
        "context_tokens": context_tokens,
    }
    return windows, counts


def windows_of(enc: Any, batch: dict, indices: list[int], stride: int, evaluation: bool, types: bool) -> dict:
    """Columns of one row per window: ids, labels, the question (`example`) and window number; evaluation windows
    keep their context offsets and a question's first window its texts; first windows hold the question's counts
    (several windows, answer words, context tokens, cut and unaligned answers) for the reports."""
    out: dict[str, list] = defaultdict(list)
    by_question: dict[int, list[int]] = defaultdict(list)
    for w, q in enumerate(enc["overflow_to_sample_mapping"]):
        by_question[q].append(w)
    for q, members in by_question.items():
        texts, starts = batch["answer_text"][q], batch["answer_start"][q]
        span = (starts[0], starts[0] + len(texts[0])) if texts else None  # training learns the first answer
        windows, counts = question_windows(enc, members, span, stride, evaluation)
        for k, (w, window) in enumerate(zip(members, windows, strict=True)):
            for key, value in window.items():
                out[key].append(value)
            out["input_ids"].append(enc["input_ids"][w])
            if types:
                out["token_type_ids"].append(enc["token_type_ids"][w])
            first = evaluation and k == 0  # texts ride on a question's first window
            for key in ("question", "context", "id"):
                out[key].append(batch[key][q] if first else "")
            out["golds"].append((texts or [""]) if first else [])  # [""]: the official gold of no answer
        rest = [0] * (len(members) - 1)
        out["example"] += [indices[q]] * len(members)
        out["window"] += range(len(members))
        out["length"] += [len(enc["input_ids"][w]) for w in members]
        out["answerable"] += [bool(texts)] * len(members)
        out["truncated"] += [len(members) > 1, *map(bool, rest)]
        out["answer_words"] += [len(texts[0].split()) if texts else 0, *rest]
        out["context_tokens"] += [counts["context_tokens"], *rest]
        out["cut"] += [counts["cut"], *map(bool, rest)]
        out["unaligned"] += [counts["unaligned"], *map(bool, rest)]
    return dict(out)
