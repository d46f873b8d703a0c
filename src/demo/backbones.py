"""Tiny random encoders built locally in a second: for the offline demo and the tests.

The backbones are randomly initialised (no pretrained knowledge); their tokenizers are learnt from the
texts given (a fork passes its own task's texts, so its smoke tests see its words rather than [UNK]),
so the whole pipeline (hub-free) runs as it does on real models.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

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

from src.utils.errors import ConfigError

MAX_POSITIONS = 128  # tokens the tiny models accept


def _wordpiece_vocab(texts: list[str], size: int | None = None) -> dict[str, int]:
    """A WordPiece vocabulary learnt by BPE merges with "##" continuations, ties broken by the pair itself.

    tokenizers' WordPieceTrainer breaks ties between equally frequent pairs in hash order, so its vocabulary
    (and every tiny model's metrics) changed from run to run; this one is the same every time. Without a `size`
    cap, merges go on until every word is one token: the texts of a task added later join the corpus without
    changing how the other tasks' words are split.
    """
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts = Counter(w for text in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    words = {w: [w[0], *("##" + c for c in w[1:])] for w in counts}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted({p for parts in words.values() for p in parts})]
    while size is None or len(vocab) < size:
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


def _bpe_vocab(texts: list[str], size: int | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE; without a `size` cap every word ends as one token (see `_wordpiece_vocab`)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=size or 10**6, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]  # [[left, right], ...]
    return tok.get_vocab(), [tuple(m) for m in merges]


def build_tiny_backbone(kind: str, out_dir: str | Path, texts: list[str], seed: int = 0) -> Path:
    """Save a tiny random `kind` (bert, distilbert, roberta) encoder in `out_dir`, with a tokenizer whose
    vocabulary is learnt (deterministically) from `texts`."""
    out = Path(out_dir)
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
        raise ConfigError(f"unknown tiny backbone {kind!r}; use bert, distilbert or roberta")
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
