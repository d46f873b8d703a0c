"""Tiny exported models for the inference tests, built in seconds without src/train.py.

- a text classifier trained for a few epochs on synthetic reviews, so texts get clearly different
  probabilities (a wrong order or a wrong window would show);
- a BERT NER model trained for a few epochs by a minimal loop (first sub-token labels, as src/train.py
  trains them), so it finds the synthetic PER/LOC/ORG entities;
- a RoBERTa NER model with a random head (byte-level offsets, many predicted entities).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.tasks.classification.synthetic import sentiment_rows
from src.tasks.ner.data import complete_tag_set
from src.tasks.words.data import read_conll


def scale_head(model: torch.nn.Module, seed: int, std: float = 3.0) -> None:
    """Random classifier weights large enough for confident, varied token predictions."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn(model.classifier.weight.shape, generator=g) * std)


def save(model: torch.nn.Module, backbone: Path, out: Path, **tokenizer_kwargs: object) -> Path:
    from transformers import AutoTokenizer

    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(backbone, **tokenizer_kwargs).save_pretrained(out)
    return out


def fit(model: torch.nn.Module, examples: list[dict], pad_id: int, epochs: int, lr: float = 5e-3) -> torch.nn.Module:
    """A minimal training loop (batches of 16, AdamW): enough for the tiny models to learn the synthetic data."""
    from src.data.batching import PadCollator

    collate, optimizer = PadCollator(pad_id), torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for start in range(0, len(examples), 16):
            model(**collate(examples[start : start + 16])).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return model.eval()


def classifier(backbone: Path, out: Path, seed: int, epochs: int = 3) -> Path:
    """A text classifier (neg, pos) trained on synthetic reviews: random encoders give every text the same
    probabilities, a trained one gives varied, text-dependent ones (a wrong order or window would show)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone)
    rows = sentiment_rows(256, seed=100 + seed)
    ids = tokenizer([r["text"] for r in rows], truncation=True, max_length=128)["input_ids"]
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=2, id2label={0: "neg", 1: "pos"})
    examples = [{"input_ids": i, "labels": r["label"]} for i, r in zip(ids, rows, strict=True)]
    return save(fit(model, examples, tokenizer.pad_token_id, epochs), backbone, out)


@pytest.fixture(scope="session")
def sentiment_model(tiny: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT text classifier (labels neg, pos) in the layout src/train.py exports."""
    return classifier(tiny["bert"], tmp_path_factory.mktemp("sentiment-model"), seed=0)


@pytest.fixture(scope="session")
def other_sentiment_model(tiny: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same architecture and labels as sentiment_model, other weights."""
    return classifier(tiny["bert"], tmp_path_factory.mktemp("other-sentiment-model"), seed=1, epochs=1)


def train_tagger(backbone: Path, data: Path, epochs: int = 4, seed: int = 0) -> torch.nn.Module:
    """A token classifier trained on `data`/train.txt, labels on each word's first sub-token."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    rows = read_conll(data / "train.txt")
    tokens, all_tags = list(rows["tokens"]), list(rows["ner_tags"])
    names = complete_tag_set({t for tags in all_tags for t in tags})
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(
        backbone, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
    )
    enc = tokenizer(tokens, is_split_into_words=True)
    examples = []
    for s, tags in enumerate(all_tags):
        words = enc.word_ids(s)
        first = [w is not None and (g == 0 or words[g - 1] != w) for g, w in enumerate(words)]
        labels = [names.index(tags[w]) if f else -100 for w, f in zip(words, first, strict=True)]
        examples.append({"input_ids": enc["input_ids"][s], "labels": labels})
    return fit(model, examples, tokenizer.pad_token_id, epochs)


@pytest.fixture(scope="session")
def ner_model(tiny: dict, ner_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT NER model (labels O, B-/I- LOC, ORG, PER) trained on the synthetic CoNLL data."""
    return save(train_tagger(tiny["bert"], ner_dir), tiny["bert"], tmp_path_factory.mktemp("ner-model"))


@pytest.fixture(scope="session")
def roberta_ner_model(tiny: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny RoBERTa NER model with a random head; its tokenizer saved with add_prefix_space, as train.py does."""
    from transformers import AutoModelForTokenClassification

    names = complete_tag_set({"B-PER", "B-LOC", "B-ORG"})
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny["roberta"], num_labels=len(names), id2label=dict(enumerate(names))
    )
    scale_head(model, seed=0)
    return save(model, tiny["roberta"], tmp_path_factory.mktemp("roberta-ner-model"), add_prefix_space=True)
