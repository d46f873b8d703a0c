"""A small synthetic SQuAD-shaped corpus a tiny random BERT learns in a few epochs: tests, contract test, demo.

A context is a few sentences about objects, "The <colour> <object> is <adjective>.", one of which says who owns
it, "The <colour> <object> belongs to <owner>." (a quarter of the contexts have ten or more sentences, so they
span several windows at a small max_length and the answer may lie in any of them); the question "Who owns the
<colour> <object>?" is answered by the owner (one or two words). With `unanswerable`, that share of contexts
say nobody owns anything (SQuAD v2: empty answers). Deterministic by seed; Parquet in the hub's schema.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "brown", "grey"]
OBJECTS = ["car", "boat", "house", "lamp", "book", "chair", "kite", "clock", "piano", "bike", "hat", "cup", "desk"]
ADJECTIVES = ["old", "new", "small", "large", "broken", "clean"]
FIRST_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
LAST_NAMES = ["smith", "jones", "moore", "clark"]


def qa_row(rng: random.Random, answerable: bool) -> dict:
    """One question in the SQuAD schema (without id): context, question, answers {text, answer_start}."""
    count = rng.randint(10, 12) if rng.random() < 0.25 else rng.randint(2, 4)
    things = [(rng.choice(COLOURS), obj) for obj in rng.sample(OBJECTS, count)]
    owned = rng.randrange(count)
    owner = rng.choice(FIRST_NAMES) + (f" {rng.choice(LAST_NAMES)}" if rng.random() < 0.3 else "")
    context, answer_start = "", -1
    for k, (colour, obj) in enumerate(things):
        context += ("" if not context else " ") + f"The {colour} {obj} "
        if k == owned and answerable:
            context += "belongs to "
            answer_start = len(context)
            context += f"{owner}."
        else:
            context += f"is {rng.choice(ADJECTIVES)}."
    question = "Who owns the {} {}?".format(*things[owned])
    answers = {"text": [owner], "answer_start": [answer_start]} if answerable else {"text": [], "answer_start": []}
    return {"title": "synthetic", "context": context, "question": question, "answers": answers}


def qa_rows(n: int, seed: int = 0, unanswerable: float = 0.0) -> list[dict]:
    """`n` questions in the SQuAD schema: id, title, context, question, answers {text, answer_start}."""
    rng = random.Random(seed)
    return [{"id": f"q{seed}-{i}", **qa_row(rng, rng.random() >= unanswerable)} for i in range(n)]


def write_splits(out_dir: str | Path, n_train: int, n_eval: int, seed: int = 0, unanswerable: float = 0.0) -> Path:
    """train/validation/test Parquet files (n_train, n_eval, n_eval questions) in `out_dir`; returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for k, (name, n) in enumerate((("train", n_train), ("validation", n_eval), ("test", n_eval))):
        pq.write_table(pa.Table.from_pylist(qa_rows(n, seed + k, unanswerable)), out / f"{name}.parquet")
    return out


def corpus(seed: int = 0) -> list[str]:
    """The texts the tiny test tokenizers learn from (contexts and questions, answerable or not)."""
    rows = qa_rows(200, seed, unanswerable=0.3)
    return [r["context"] for r in rows] + [r["question"] for r in rows]
