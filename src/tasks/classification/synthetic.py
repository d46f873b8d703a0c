"""Small synthetic datasets of every classification shape, learnable by a tiny model in seconds: the demo
(`make demo`), the tests and the contract test (`ClassificationTask.variants`)."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

POSITIVE = ["good", "great", "excellent", "wonderful", "superb", "delightful", "brilliant", "moving", "charming", "fun"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "weak", "tedious", "horrible", "mess"]
FILLER = [
    "the", "movie", "film", "plot", "actor", "actress", "scene", "story", "director", "music", "was", "is",
    "and", "a", "an", "of", "it", "this", "that", "with", "for", "to", "in", "on", "at", "by", "script",
    "camera", "ending", "cast", "character", "dialogue",
]  # fmt: skip
TOPICS = {  # multi-label: a text mentions some of these topics
    "sports": ["match", "goal", "team", "coach"],
    "politics": ["vote", "senate", "minister", "law"],
    "tech": ["chip", "software", "robot", "cloud"],
    "food": ["pasta", "bread", "cheese", "soup"],
}


def sentiment_rows(n: int, seed: int = 0, noise: float = 0.05) -> list[dict]:
    """Reviews of 5-60 filler words with 1-4 words of the label's polarity and fewer of the other one;
    a `noise` fraction of labels is flipped, so even a perfect model stays below 100% accuracy."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.choices(FILLER, k=rng.randint(5, 60))
        majority = rng.randint(1, 4)
        for polarity, count in ((label, majority), (1 - label, rng.randint(0, majority - 1))):
            for _ in range(count):
                words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if polarity else NEGATIVE))
        if rng.random() < noise:
            label = 1 - label
        rows.append({"text": " ".join(words).capitalize() + ".", "label": label})
    return rows


def pair_rows(n: int, seed: int = 0) -> list[dict]:
    """Sentence pairs labelled `agree` when both sentences have the same polarity, `disagree` otherwise."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        first, second = rng.randint(0, 1), rng.randint(0, 1)
        texts = [
            " ".join([*rng.choices(FILLER, k=rng.randint(3, 12)), rng.choice(POSITIVE if p else NEGATIVE)])
            for p in (first, second)
        ]
        rows.append({"text": texts[0], "text_pair": texts[1], "label": "agree" if first == second else "disagree"})
    return rows


def multi_label_rows(n: int, seed: int = 0) -> list[dict]:
    """Texts mentioning 0-3 topics; one 0/1 column per topic (the layout of SemEval-2018 E-c)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        chosen = rng.sample(sorted(TOPICS), rng.randint(0, 3))
        words = rng.choices(FILLER, k=rng.randint(4, 20)) + [rng.choice(TOPICS[t]) for t in chosen]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), **{t: int(t in chosen) for t in TOPICS}})
    return rows


def regression_rows(n: int, seed: int = 0) -> list[dict]:
    """Texts scored 0-5 by their share of positive (vs negative) words, plus a little noise."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        pos, neg = rng.randint(0, 4), rng.randint(0, 4)
        words = rng.choices(FILLER, k=rng.randint(3, 15)) + rng.choices(POSITIVE, k=pos) + rng.choices(NEGATIVE, k=neg)
        rng.shuffle(words)
        score = 5 * pos / max(pos + neg, 1) if pos + neg else 2.5
        rows.append({"text": " ".join(words), "score": round(min(5.0, max(0.0, score + rng.gauss(0, 0.2))), 3)})
    return rows


def write_splits(rows_of, out_dir: str | Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """train.parquet and test.parquet from a row generator (validation is carved from train)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows_of(n_train, seed)).to_parquet(out / "train.parquet", index=False)
    pd.DataFrame(rows_of(n_test, seed + 1)).to_parquet(out / "test.parquet", index=False)
    return out


def write_sentiment_data(out_dir: str | Path, n_train: int = 1200, n_test: int = 300, seed: int = 0) -> Path:
    return write_splits(sentiment_rows, out_dir, n_train, n_test, seed)


def corpus(seed: int = 0) -> list[str]:
    """Every word the synthetic classification data uses (for the tiny test tokenizer)."""
    rows = pair_rows(100, seed) + multi_label_rows(100, seed) + regression_rows(100, seed)
    return (
        [r["text"] for r in sentiment_rows(400, seed)]
        + [r.get("text_pair", r["text"]) for r in rows]
        + [" ".join(words) for words in TOPICS.values()]
    )
