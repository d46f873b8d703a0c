"""A small synthetic part-of-speech corpus (CoNLL text files): determiner-adjective-noun-verb sentences."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = {
    "DET": ["the", "a", "every", "this"],
    "ADJ": ["green", "quiet", "tall", "quick", "old"],
    "NOUN": ["river", "teacher", "garden", "robot", "violin"],
    "VERB": ["sees", "follows", "paints", "finds", "sings"],
    "ADP": ["near", "under", "behind"],
}
TEMPLATES = [["DET", "NOUN", "VERB", "DET", "NOUN"], ["DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN"],
             ["DET", "NOUN", "VERB"], ["DET", "ADJ", "ADJ", "NOUN", "VERB", "DET", "ADJ", "NOUN"]]  # fmt: skip


def pos_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tags = rng.choice(TEMPLATES)
        rows.append({"tokens": [rng.choice(WORDS[t]) for t in tags], "pos_tags": list(tags)})
    return rows


def write_pos_data(out_dir: str | Path, n_train: int = 160, n_test: int = 40, seed: int = 0) -> Path:
    """train.txt, valid.txt, test.txt in CoNLL text format (`word tag`, blank line between sentences)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, n, s in (("train", n_train, seed), ("valid", n_test, seed + 1), ("test", n_test, seed + 2)):
        lines = []
        for row in pos_rows(n, s):
            lines += [f"{w} {t}" for w, t in zip(row["tokens"], row["pos_tags"], strict=True)] + [""]
        (out / f"{name}.txt").write_text("\n".join(lines))
    return out


def corpus(seed: int = 0) -> list[str]:
    return [" ".join(r["tokens"]) for r in pos_rows(100, seed)]
