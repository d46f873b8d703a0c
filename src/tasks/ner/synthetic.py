"""A small synthetic NER corpus (CoNLL text files), learnable by a tiny model: demo, tests, contract test."""

from __future__ import annotations

import random
from pathlib import Path

# the words between entities (the same as the synthetic reviews': the demo's tiny vocabulary covers both)
FILLER = [
    "the", "movie", "film", "plot", "actor", "actress", "scene", "story", "director", "music", "was", "is",
    "and", "a", "an", "of", "it", "this", "that", "with", "for", "to", "in", "on", "at", "by", "script",
    "camera", "ending", "cast", "character", "dialogue",
]  # fmt: skip
PERSONS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = ["paris", "london", "berlin", "tokyo", "lima", "oslo", "cairo", "delhi"]
ORGS = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay"]


def ner_rows(n: int, seed: int = 0) -> list[dict]:
    """Sentences of filler words with PER/LOC/ORG entities (1-2 words each) and IOB2 tags."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(3, 14)):
            kind = rng.random()
            if kind < 0.25:
                pool, typ = rng.choice([(PERSONS, "PER"), (PLACES, "LOC"), (ORGS, "ORG")])
                words = [w.capitalize() for w in rng.sample(pool, rng.randint(1, 2))]
                tokens += words
                tags += [f"B-{typ}"] + [f"I-{typ}"] * (len(words) - 1)
            else:
                tokens.append(rng.choice(FILLER))
                tags.append("O")
        rows.append({"tokens": tokens, "ner_tags": tags})
    return rows


def write_conll(rows: list[dict], path: Path, tag_key: str = "ner_tags") -> None:
    lines = ["-DOCSTART- O", ""]
    for row in rows:
        lines += [f"{t} {g}" for t, g in zip(row["tokens"], row[tag_key], strict=True)] + [""]
    path.write_text("\n".join(lines))


def write_ner_data(out_dir: str | Path, n_train: int = 400, n_val: int = 100, n_test: int = 100, seed: int = 0) -> Path:
    """CoNLL-style text files (`token tag` per line, blank line between sentences)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, n, s in (("train", n_train, seed), ("valid", n_val, seed + 1), ("test", n_test, seed + 2)):
        write_conll(ner_rows(n, s), out / f"{name}.txt")
    return out


def corpus(seed: int = 0) -> list[str]:
    return [" ".join(r["tokens"]) for r in ner_rows(400, seed)]
