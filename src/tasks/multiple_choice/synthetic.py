"""Small synthetic multiple-choice datasets, learnable by a tiny model in a couple of epochs: the tests and the
contract test (`MultipleChoiceTask.variants`). Every question names a category (or, with a context, a place that
implies one); the right choice is a thing of that category. Half the questions have one distractor of another
category, the other distractors are words that are no thing at all: a tiny model first learns to reject those (in
a couple of epochs: accuracy far above chance), then which category a question asks for (a few epochs more).

All texts are invented here; deterministic given the seed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd

CATEGORIES = {
    "fruit": ["apple", "banana", "cherry"],
    "tool": ["wrench", "saw", "drill"],
    "animal": ["horse", "tiger", "rabbit"],
    "vehicle": ["truck", "bicycle", "tram"],
    "instrument": ["violin", "drum", "flute"],
    "garment": ["jacket", "scarf", "boot"],
}
PLACES = {"fruit": "market", "tool": "workshop", "animal": "zoo", "vehicle": "garage", "instrument": "concert",
          "garment": "tailor"}  # fmt: skip
# fixed templates: the cue (category, place) always sits at the same position, which a tiny model finds fast
QUESTION, CONTEXT, START = "which is {}", "at the {}", "they found a"
NOT_THINGS = ["seven", "blue", "quickly", "never", "under", "loud"]  # no fruit, tool, animal...
LETTERS = "ABCDEFGHIJ"


def with_article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def options(rng: random.Random, category: str, k: int) -> tuple[list[str], int]:
    """`k` choices in random order and the right one's index: a thing of `category`, with probability 1/2 a thing of
    another category, the rest words that are no thing."""
    right = rng.choice(CATEGORIES[category])
    others = sorted(t for c, things in CATEGORIES.items() if c != category for t in things)
    hard = [rng.choice(others)] if rng.random() < 0.5 else []
    choices = [right, *hard, *rng.sample(NOT_THINGS, k - 1 - len(hard))]
    order = list(range(k))
    rng.shuffle(order)
    return [choices[i] for i in order], order.index(0)


def question_rows(n: int, seed: int = 0, choices: tuple[int, int] = (3, 5)) -> list[dict[str, Any]]:
    """CommonsenseQA-like rows: a question naming a category, `choices` (min, max) answers in a list column,
    choice labels A.., the gold as a letter (answerKey), an index (label) and a text (answer)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        category = rng.choice(sorted(CATEGORIES))
        things, gold = options(rng, category, rng.randint(*choices))
        rows.append({"question": QUESTION.format(with_article(category)), "choices": things,
                     "choice_labels": list(LETTERS[: len(things)]), "answerKey": LETTERS[gold], "label": gold,
                     "answer": things[gold]})  # fmt: skip
    return rows


def context_rows(n: int, seed: int = 0, endings: int = 4) -> list[dict[str, Any]]:
    """SWAG-like rows: a context (sent1) at a place, the start of the next sentence (sent2), 3 or `endings`
    endings in columns ending0.. (a missing last ending is None), the gold as text (answer) and index (label)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        category = rng.choice(sorted(CATEGORIES))
        things, gold = options(rng, category, rng.choice([3, endings]))
        cells = [*things, *[None] * (endings - len(things))]
        ending = {f"ending{i}": c for i, c in enumerate(cells)}
        rows.append({"sent1": CONTEXT.format(PLACES[category]), "sent2": START, **ending, "answer": things[gold],
                     "label": gold})  # fmt: skip
    return rows


def write_splits(rows_of: Any, out_dir: str | Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """train.parquet and test.parquet from a row generator (validation is carved from train)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows_of(n_train, seed)).to_parquet(out / "train.parquet", index=False)
    pd.DataFrame(rows_of(n_test, seed + 1)).to_parquet(out / "test.parquet", index=False)
    return out


def corpus(seed: int = 0) -> list[str]:
    """Every text the synthetic multiple-choice data uses (for the tiny test tokenizers)."""
    texts = [" ".join([r["question"], *r["choices"]]) for r in question_rows(100, seed)]
    texts += [" ".join([r["sent1"], r["sent2"], r["answer"]]) for r in context_rows(100, seed)]
    return texts + [" ".join(things) for things in CATEGORIES.values()] + [" ".join([*PLACES.values(), *NOT_THINGS])]
