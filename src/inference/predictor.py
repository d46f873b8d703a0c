"""Batched predictions of an exported model (`<run>/hf_model`): text classification or NER, PyTorch or ONNX.

The task is read from `config.architectures[0]`. Texts are tokenized once without special tokens, cut
into model-sized sequences the way training cut them (same framing, same truncation and window helpers),
sorted by length and batched with dynamic padding; results come back in input order.

- Text classification: a long text is truncated (head, tail, head+tail) or, with `long_text=window`,
  split into overlapping windows whose softmax probabilities are averaged.
- NER: words are the tokenizer's pre-tokenization of the raw text; each word takes the tag of its first
  sub-token (as in training), predicted in the window where the word has the most context; BIO tags are
  grouped into entities with conlleval semantics; offsets index the original text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from src.data.base import special_framing
from src.data.batching import PadCollator
from src.data.ner import owner_windows, windows
from src.data.sentiment import TRUNCATION_MODES, truncate
from src.models.backbone import load_tokenizer, needs_prefix_space
from src.models.entities import entities
from src.utils.hub import ensure_hub_or_offline, looks_like_hub_id

TASKS = {"ForSequenceClassification": "sentiment", "ForTokenClassification": "ner"}
AUTO_CLASSES = {"sentiment": AutoModelForSequenceClassification, "ner": AutoModelForTokenClassification}
LONG_TEXT_MODES = ("truncate", "window")
# position ids start at padding_idx + 1 in these models: two position embeddings are not usable
OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer", "mpnet"}
EMPTY = {"error": "empty text"}
Backend = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (input_ids, attention_mask) -> logits


def load_config(model_dir: str) -> tuple[PretrainedConfig, str]:
    """The model's config and task; refuses directories that are not an exported classifier."""
    if not Path(model_dir).is_dir():
        if not looks_like_hub_id(model_dir):
            raise FileNotFoundError(
                f"model_dir={model_dir!r}: no such directory. Fix: pass the hf_model directory a training run "
                "wrote (logs/<task>/train/<run>/hf_model), or a hub id."
            )
        ensure_hub_or_offline()  # an unreachable hub fails in seconds, then the local cache is used
    try:
        config = AutoConfig.from_pretrained(model_dir, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise OSError(
            f"model_dir={model_dir!r}: no loadable config.json ({str(err).splitlines()[0][:200]}). "
            "Fix: pass the hf_model directory a training run wrote (logs/<task>/train/<run>/hf_model)."
        ) from None
    arch = (config.architectures or ["(none)"])[0]
    task = next((t for suffix, t in TASKS.items() if arch.endswith(suffix)), None)
    if task is None:
        raise ValueError(
            f"model_dir={model_dir!r}: architecture {arch} is neither *ForSequenceClassification nor "
            "*ForTokenClassification. Fix: pass the hf_model directory of a training run (it has a classifier head)."
        )
    return config, task


def load_model(model_dir: str, task: str) -> PreTrainedModel:
    """The fp32 PyTorch model in eval mode (dropout off); no remote code runs."""
    try:
        model = AUTO_CLASSES[task].from_pretrained(model_dir, trust_remote_code=False, dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise OSError(f"model_dir={model_dir!r}: could not load the model weights: {err}") from None
    return model.eval()


def load_inference_tokenizer(model_dir: str, task: str) -> PreTrainedTokenizerBase:
    """The fast tokenizer; byte-level BPE gets add_prefix_space for NER, as NER training used it."""
    tokenizer = load_tokenizer(model_dir, trust_remote_code=False, key="model_dir")
    if task == "ner" and needs_prefix_space(tokenizer):
        tokenizer = load_tokenizer(model_dir, trust_remote_code=False, key="model_dir", add_prefix_space=True)
    return tokenizer


def position_limit(config: PretrainedConfig) -> int | None:
    """Longest sequence the position embeddings allow (None: no absolute positions)."""
    positions = getattr(config, "max_position_embeddings", None)
    if not positions:
        return None
    return int(positions) - (2 if config.model_type in OFFSET_POSITIONS else 0)


def resolve_max_length(wanted: int | None, tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig) -> int:
    """`max_length`, or the tokenizer's model_max_length capped by the position embeddings."""
    cap = position_limit(config)
    if wanted is not None:
        if cap is not None and wanted > cap:
            raise ValueError(f"max_length={wanted} exceeds the model's {cap} positions. Fix: max_length<={cap}.")
        return int(wanted)
    limits = [x for x in (tokenizer.model_max_length, cap) if x and x < 1_000_000]  # tokenizers say 1e30 for "none"
    if not limits:
        raise ValueError("The model and tokenizer state no maximum length. Fix: max_length=<tokens per sequence>.")
    return int(min(limits))


def resolve_device(device: str) -> str:
    """`device`: auto (cuda when available), cpu or cuda."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: use auto, cpu or cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but torch sees no CUDA device. Fix: device=auto or device=cpu.")
    return device


class TorchBackend:
    """PyTorch forward pass without autograd: (input_ids, attention_mask) -> fp32 logits."""

    def __init__(self, model: PreTrainedModel, device: str) -> None:
        self.model = model.to(device).eval()
        self.device = device

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device))
        return out.logits.float()


@dataclass
class Settings:
    """How texts become sequences and batches (the predict config keys of the same names)."""

    batch_size: int = 32
    max_length: int | None = None  # null: tokenizer's model_max_length capped by the position embeddings
    long_text: str = "truncate"  # text classification: truncate | window
    truncation: str = "head"  # long_text=truncate: head | tail | head+tail
    head_tokens: int = 128  # truncation=head+tail: tokens kept from the start
    stride: int = 32  # tokens shared by consecutive windows

    def check(self, budget: int, task: str) -> None:
        """Reject bad values with the key and the fix, before any text is read."""
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: must be >= 1.")
        if self.long_text not in LONG_TEXT_MODES:
            raise ValueError(f"long_text={self.long_text!r}: use one of {LONG_TEXT_MODES}.")
        if self.truncation not in TRUNCATION_MODES:
            raise ValueError(f"truncation={self.truncation!r}: use one of {TRUNCATION_MODES}.")
        if budget < 2:
            raise ValueError(f"max_length={self.max_length} leaves {budget} tokens besides the special tokens.")
        uses_windows = task == "ner" or self.long_text == "window"
        if uses_windows and not 0 <= self.stride < budget // 2:
            raise ValueError(f"stride={self.stride} must be >= 0 and < {budget // 2} (half of max_length's text).")


@dataclass
class NerText:
    """One text's words and windows: words are pre-tokenizer words, located by their first sub-token."""

    spans: list[tuple[int, int]]  # character span of each word
    first: list[int]  # position of each word's first sub-token (among the text's tokens)
    starts: list[int]  # first token of each window
    owners: list[int]  # window in which each word is predicted


def word_layout(text: str, word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]) -> tuple[list, list]:
    """Character span and first sub-token position of every word of one tokenized text.

    Whitespace-only "words" (byte-level BPE makes one of a run of spaces) are not words: skipped.
    """
    spans: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    for position, (word, (start, end)) in enumerate(zip(word_ids, offsets, strict=True)):
        if word is None:
            continue
        if word not in spans:
            spans[word], first[word] = [start, end], position
        spans[word][1] = max(spans[word][1], end)
    order = [w for w in sorted(spans) if text[spans[w][0] : spans[w][1]].strip()]
    return [tuple(spans[w]) for w in order], [first[w] for w in order]


def group_entities(text: str, tags: list[str], scores: list[float], spans: list[tuple[int, int]]) -> list[dict]:
    """BIO word tags -> entities with character offsets into `text` and the mean word score."""
    found = []
    for kind, first, last in sorted(entities(tags), key=lambda e: e[1]):
        start, end = spans[first][0], spans[last][1]
        while start < end and text[start].isspace():  # byte-level tokens may carry the space before a word
            start += 1
        words = scores[first : last + 1]
        found.append({"type": kind, "text": text[start:end], "start": start, "end": end,
                      "score": sum(words) / len(words)})  # fmt: skip
    return found


class Predictor:
    """An exported classifier ready to predict: `Predictor(model_dir).predict(["text", ...])`."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        backend: str = "torch",
        device: str = "auto",
        onnx_path: str | Path | None = None,
        threads: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.model_dir = str(model_dir)
        self.config, self.task = load_config(self.model_dir)
        self.tokenizer = load_inference_tokenizer(self.model_dir, self.task)
        self.labels = [self.config.id2label[i] for i in range(self.config.num_labels)]
        self._check_labels()
        self.settings = settings or Settings()
        self.max_length = resolve_max_length(self.settings.max_length, self.tokenizer, self.config)
        self.prefix, self.suffix = special_framing(self.tokenizer)
        self.budget = self.max_length - len(self.prefix) - len(self.suffix)  # text tokens per sequence
        self.settings.check(self.budget, self.task)
        self.device = resolve_device(device)
        self.forward = self._backend(backend, onnx_path, threads)
        self.collate = PadCollator(self.tokenizer.pad_token_id)

    def _check_labels(self) -> None:
        bad = [t for t in self.labels if self.task == "ner" and t != "O" and not t.startswith(("B-", "I-"))]
        if bad:
            raise ValueError(
                f"model_dir={self.model_dir!r}: token labels {bad} are not BIO tags (O, B-TYPE, I-TYPE); "
                "entities cannot be grouped. Fix: train with BIO-tagged data (config.json id2label)."
            )

    def _backend(self, backend: str, onnx_path: str | Path | None, threads: int | None) -> Backend:
        if threads:
            torch.set_num_threads(threads)
        if backend == "torch":
            return TorchBackend(load_model(self.model_dir, self.task), self.device)
        if backend != "onnx":
            raise ValueError(f"backend={backend!r}: use torch or onnx.")
        path = Path(onnx_path) if onnx_path else Path(self.model_dir) / "model.onnx"
        if not path.is_file():
            raise FileNotFoundError(
                f"backend=onnx: {path} does not exist. Fix: python src/export.py model_dir={self.model_dir}"
                + (f" output={path}" if onnx_path else "")
                + " (or backend=torch)."
            )
        from src.inference.onnx_export import OnnxSession

        return OnnxSession(path, self.device, threads)

    # ------------------------------------------------------------------ batching
    def run(self, sequences: list[list[int]], owners: list[int], bar: tqdm | None = None) -> list[torch.Tensor]:
        """Softmax probabilities of every sequence ((C,) or (T, C)), longest first in batches, input order out.

        owners[i] is the text sequence i belongs to: the progress bar counts texts whose sequences are all done.
        """
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
        pending = {t: owners.count(t) for t in set(owners)} if bar is not None else {}
        out: list[torch.Tensor] = [torch.empty(0)] * len(sequences)
        size = self.settings.batch_size
        for begin in range(0, len(order), size):
            rows = order[begin : begin + size]
            batch = self.collate([{"input_ids": sequences[i]} for i in rows])
            probs = self.forward(batch["input_ids"], batch["attention_mask"]).float().softmax(-1).cpu()
            for row, i in enumerate(rows):
                out[i] = probs[row] if probs.dim() == 2 else probs[row, : len(sequences[i])]
                if bar is not None:
                    pending[owners[i]] -= 1
                    bar.update(int(pending[owners[i]] == 0))
        return out

    # ------------------------------------------------------------------ public
    def predict(self, texts: Sequence[str], progress: bool = False) -> list[dict]:
        """One record per text, in order; an empty or whitespace-only text gets {"error": "empty text"}."""
        keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        records: list[dict] = [dict(EMPTY) for _ in texts]
        if not keep:
            return records
        with tqdm(total=len(keep), unit="text", disable=not progress, desc="predicting") as bar:
            predict = self._classify if self.task == "sentiment" else self._tag
            for i, record in zip(keep, predict([texts[i] for i in keep], bar), strict=True):
                records[i] = record
        return records

    # ------------------------------------------------------------------ text classification
    def _sequences(self, ids: list[int]) -> list[list[int]]:
        s = self.settings
        if s.long_text == "truncate" or len(ids) <= self.budget:
            return [self.prefix + truncate(ids, self.budget, s.truncation, s.head_tokens) + self.suffix]
        return [self.prefix + ids[w : w + self.budget] + self.suffix for w in windows(len(ids), self.budget, s.stride)]

    def _classify(self, texts: list[str], bar: tqdm | None) -> list[dict]:
        token_ids = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]  # we cut long texts
        sequences, owners = [], []
        for t, ids in enumerate(token_ids):
            parts = self._sequences(ids)
            sequences += parts
            owners += [t] * len(parts)
        per_text: list[list[torch.Tensor]] = [[] for _ in texts]
        for t, p in zip(owners, self.run(sequences, owners, bar), strict=True):
            per_text[t].append(p)
        return [
            self._label_record(torch.stack(p).mean(0), len(p), len(ids))
            for p, ids in zip(per_text, token_ids, strict=True)
        ]

    def _label_record(self, probs: torch.Tensor, n_windows: int, n_tokens: int) -> dict:
        best = int(probs.argmax())
        record = {"label": self.labels[best], "score": float(probs[best]),
                  "probs": {name: float(p) for name, p in zip(self.labels, probs.tolist(), strict=True)}}  # fmt: skip
        if self.settings.long_text == "window":
            record["windows"] = n_windows  # probabilities are the mean over this many windows
        elif n_tokens > self.budget:
            record["truncated"] = True  # only part of the text was read (truncation=...)
        return record

    # ------------------------------------------------------------------ NER
    def _layout(self, text: str, encoding, index: int) -> NerText:
        spans, first = word_layout(text, encoding.word_ids(index), encoding["offset_mapping"][index])
        n_tokens = len(encoding["input_ids"][index])
        starts = windows(n_tokens, self.budget, self.settings.stride)
        return NerText(spans, first, starts, owner_windows(first, starts, self.budget, n_tokens))

    def tag_words(self, texts: list[str], bar: tqdm | None = None) -> list[tuple[NerText, torch.Tensor]]:
        """Per text: its word layout and (words, labels) probabilities, each word read in its owner window."""
        encoding = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        layouts, sequences, owners, base = [], [], [], []
        for t in range(len(texts)):
            layout, ids = self._layout(texts[t], encoding, t), encoding["input_ids"][t]
            layouts.append(layout)
            base.append(len(sequences))  # index of the text's first window
            sequences += [self.prefix + ids[s : s + self.budget] + self.suffix for s in layout.starts]
            owners += [t] * len(layout.starts)
        probs = self.run(sequences, owners, bar)
        return [(layout, self.word_probs(layout, probs[b : b + len(layout.starts)]))
                for layout, b in zip(layouts, base, strict=True)]  # fmt: skip

    def _tag(self, texts: list[str], bar: tqdm | None) -> list[dict]:
        records = []
        for text, (layout, probs) in zip(texts, self.tag_words(texts, bar), strict=True):
            scores, tags = probs.max(-1)
            found = group_entities(text, [self.labels[i] for i in tags.tolist()], scores.tolist(), layout.spans)
            records.append({"entities": found})
        return records

    def word_probs(self, layout: NerText, window_probs: list[torch.Tensor]) -> torch.Tensor:
        """(words, labels) probabilities, each word's read at its first sub-token in its owner window."""
        rows = [
            window_probs[k][len(self.prefix) + g - layout.starts[k]]
            for g, k in zip(layout.first, layout.owners, strict=True)
        ]
        return torch.stack(rows) if rows else torch.empty(0, len(self.labels))
