"""Tiny random encoders and synthetic datasets, built locally in a second: for the offline demo and tests.

    python -m src.utils.synthetic --out .demo     # .demo/tiny-bert, .demo/sentiment/{train,test}.parquet

The backbones are randomly initialised (no pretrained knowledge); their tokenizers are trained on the
synthetic corpus with `tokenizers`, so the whole pipeline (hub-free) runs as it does on real models.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    AutoModel,
    BertConfig,
    BertTokenizer,
    DistilBertConfig,
    DistilBertTokenizer,
    RobertaConfig,
    RobertaTokenizer,
)

POSITIVE = ["good", "great", "excellent", "wonderful", "superb", "delightful", "brilliant", "moving", "charming", "fun"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "weak", "tedious", "horrible", "mess"]
FILLER = [
    "the", "movie", "film", "plot", "actor", "actress", "scene", "story", "director", "music", "was", "is",
    "and", "a", "an", "of", "it", "this", "that", "with", "for", "to", "in", "on", "at", "by", "script",
    "camera", "ending", "cast", "character", "dialogue",
]  # fmt: skip
PERSONS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = ["paris", "london", "berlin", "tokyo", "lima", "oslo", "cairo", "delhi"]
ORGS = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay"]

MAX_POSITIONS = 128  # tokens the tiny models accept


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


def corpus(seed: int = 0) -> list[str]:
    texts = [r["text"] for r in sentiment_rows(400, seed)]
    return texts + [" ".join(r["tokens"]) for r in ner_rows(400, seed)]


def _wordpiece_vocab(texts: list[str], size: int = 400) -> dict[str, int]:
    """A WordPiece vocabulary learnt by BPE merges with "##" continuations, ties broken by the pair itself.

    tokenizers' WordPieceTrainer breaks ties between equally frequent pairs in hash order, so its vocabulary
    (and every tiny model's metrics) changed from run to run; this one is the same every time.
    """
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts = Counter(w for text in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    words = {w: [w[0], *("##" + c for c in w[1:])] for w in counts}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted({p for parts in words.values() for p in parts})]
    while len(vocab) < size:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, parts in words.items():
            for pair in itertools.pairwise(parts):
                pairs[pair] += counts[word]
        if not pairs:
            break  # every word is one token
        (left, right), _ = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        merged = left + right.removeprefix("##")
        for word, parts in words.items():
            out, i = [], 0
            while i < len(parts):
                if parts[i : i + 2] == [left, right]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            words[word] = out
        if merged not in vocab:
            vocab.append(merged)
    return {token: i for i, token in enumerate(vocab)}


def _bpe_vocab(texts: list[str], size: int = 500) -> tuple[dict[str, int], list[tuple[str, str]]]:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]  # [[left, right], ...]
    return tok.get_vocab(), [tuple(m) for m in merges]


def build_tiny_backbone(kind: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `kind` (bert, distilbert, roberta) encoder and its trained tokenizer in `out_dir`."""
    out = Path(out_dir)
    texts = corpus(seed)
    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    if kind in ("bert", "distilbert"):
        vocab = _wordpiece_vocab(texts)
        tokenizer_cls = BertTokenizer if kind == "bert" else DistilBertTokenizer
        tokenizer = tokenizer_cls(vocab=vocab, model_max_length=MAX_POSITIONS)
        if kind == "bert":
            config = BertConfig(vocab_size=len(vocab), max_position_embeddings=MAX_POSITIONS, **size)
        else:
            config = DistilBertConfig(
                vocab_size=len(vocab), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128
            )
    elif kind == "roberta":
        vocab, merges = _bpe_vocab(texts)
        tokenizer = RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_POSITIONS)
        # RoBERTa offsets positions by padding_idx + 1, hence two extra position embeddings
        config = RobertaConfig(
            vocab_size=len(vocab),
            max_position_embeddings=MAX_POSITIONS + 2,
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **size,
        )
    else:
        raise ValueError(f"unknown tiny backbone {kind!r}; use bert, distilbert or roberta")
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_sentiment_data(out_dir: str | Path, n_train: int = 1200, n_test: int = 300, seed: int = 0) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(sentiment_rows(n_train, seed)).to_parquet(out / "train.parquet", index=False)
    pd.DataFrame(sentiment_rows(n_test, seed + 1)).to_parquet(out / "test.parquet", index=False)
    return out


def write_ner_data(out_dir: str | Path, n_train: int = 400, n_val: int = 100, n_test: int = 100, seed: int = 0) -> Path:
    """CoNLL-style text files (`token tag` per line, blank line between sentences)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, n, s in (("train", n_train, seed), ("valid", n_val, seed + 1), ("test", n_test, seed + 2)):
        lines = ["-DOCSTART- O", ""]
        for row in ner_rows(n, s):
            lines += [f"{t} {g}" for t, g in zip(row["tokens"], row["ner_tags"], strict=True)] + [""]
        (out / f"{name}.txt").write_text("\n".join(lines))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".demo", help="output directory")
    parser.add_argument("--backbone", default="bert", choices=["bert", "distilbert", "roberta"])
    args = parser.parse_args()
    out = Path(args.out)
    build_tiny_backbone(args.backbone, out / f"tiny-{args.backbone}")
    write_sentiment_data(out / "sentiment")
    write_ner_data(out / "ner")
    print(f"Wrote {out}/tiny-{args.backbone}, {out}/sentiment and {out}/ner")


if __name__ == "__main__":
    main()
