"""Named-entity recognition data: word tagging (src/tasks/words/data.py) with BIO tags, CoNLL-2003 by default.

The label set is O plus B-/I- of every entity type seen in train (or data.label_names). A tag that is
not O, B-TYPE or I-TYPE stops the run before any label set is made up from it, naming its lines and,
for CoNLL text files, the column that does hold BIO tags (a POS column read as tags is the usual cause).
"""

from __future__ import annotations

import re
from collections import Counter

from src.data.base import values
from src.data.sources import RawData
from src.tasks.words.data import WordTagDataModule
from src.utils.errors import ConfigError

TAG = re.compile(r"^(O|[BI]-.+)$")


def complete_tag_set(tags: set[str]) -> list[str]:
    """O first, then B-/I- of every entity type, types sorted: the label order of exported models."""
    types = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


class NERDataModule(WordTagDataModule):
    """BIO-tagged word data; see WordTagDataModule for columns, windows and alignment."""

    task_name = "ner"
    unrepresented_note = "they are predicted O (an entity among them counts as missed)"

    def default_label_names(self, seen: set[str], raw: RawData, tag_col: str) -> list[str]:
        malformed = sorted(t for t in seen if not TAG.match(t))
        if malformed:
            raise ConfigError(self._malformed_message(malformed, raw, tag_col))
        return complete_tag_set(seen)

    def _malformed_message(self, malformed: list[str], raw: RawData, tag_col: str) -> str:
        train = raw.splits["train"]
        where: list[str] = []
        lines = values(train, "line") if "line" in train.column_names else None
        for row, tags in enumerate(values(train, tag_col)):
            for j, tag in enumerate(tags):
                if tag in malformed and len(where) < 5:
                    where.append(f"line {lines[row] + j}" if lines else f"row {row} word {j}")
        hint = ""
        if lines is not None:
            hint = self._bio_column_hint(raw.origins.get("train", ""))
        return (
            f"{raw.where('train')}: {len(malformed)} distinct tags are not BIO tags (O, B-TYPE, I-TYPE), e.g. "
            f"{malformed[:5]} at {', '.join(where)}. {hint}Fix: point data.tags_column (or, for CoNLL text files, "
            "data.conll_tag_column) at the NER tags, or give data.label_names."
        )

    def _bio_column_hint(self, origin: str) -> str:
        """For a CoNLL text file: which whitespace-separated column holds BIO tags, read from its first lines."""
        path = origin.split(", ")[0]
        columns: Counter[int] = Counter()
        lines = 0
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for _, line in zip(range(2000), f, strict=False):
                    fields = line.split()
                    if len(fields) >= 2 and fields[0] != "-DOCSTART-":
                        lines += 1
                        columns.update(i for i, v in enumerate(fields) if i > 0 and TAG.match(v))
        except OSError:
            return ""
        candidates = sorted(i for i, n in columns.items() if n >= 0.9 * lines)
        if not candidates:
            return ""
        configured = self.cfg.conll_tag_column
        return (f"In {path}, columns {candidates} (0-based) hold BIO-style tags; data.conll_tag_column={configured} "
                "reads another one (in CoNLL-2003 files the NER tag is the last column, -1). ")  # fmt: skip

    def tag_problem(self, tag: object) -> str:
        return (
            "tag not in the label set"
            if isinstance(tag, int) or TAG.match(str(tag))
            else "malformed tag (use O, B-TYPE, I-TYPE)"
        )

    @staticmethod
    def continuation(names: list[str]) -> list[int]:
        """B-PER -> I-PER: a word's later sub-tokens are inside the entity."""
        return [names.index("I-" + n[2:]) if n.startswith("B-") else i for i, n in enumerate(names)]
