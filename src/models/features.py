"""A frozen encoder's outputs, computed once per split and cached on disk (`model.freeze_backbone=true`).

With the encoder frozen (and in eval mode: no dropout), its output for a row never changes, so computing it
every epoch is wasted work. It is computed once, stored next to the tokenized cache under a key of the
tokenized data and the encoder's weights (another model is another key), and training then runs only the
head: during a forward, the backbone (`model.<base_model_prefix>`) is replaced by `CachedEncoder`, which
returns the stored hidden states (and applies the backbone's own pooler, which stays trainable), so every
Hugging Face head (sequence, token, span, multiple choice) computes its outputs exactly as with the real
encoder. Sequence-level heads read only the first position of each sequence (`first`); token-level heads
read every position (`all`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions

from src.data.base import values
from src.data.batching import eval_batches
from src.data.cache import build_once
from src.utils.errors import ConfigError
from src.utils.log import get_logger

log = get_logger(__name__)
POSITIONS = ("first", "all")


def base_model(model: PreTrainedModel) -> nn.Module:
    return getattr(model, model.base_model_prefix)


def encoder_fingerprint(model: PreTrainedModel) -> str:
    """Hash of the frozen backbone's weights (names, shapes, values): the cache key's model part."""
    digest = hashlib.sha256()
    for name, tensor in sorted(base_model(model).state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


class CachedEncoder(nn.Module):
    """Stands in for the backbone during a forward: returns the cached hidden states of the batch (and the
    backbone's pooler over them, trainable), shaped as the backbone's output for the ids the head passes."""

    def __init__(self, pooler: nn.Module | None) -> None:
        super().__init__()
        self.pooler = pooler
        self.features: torch.Tensor | None = None  # set per batch: (B, P, H) or (B, C, P, H)

    def forward(self, input_ids: torch.Tensor | None = None, **_: Any) -> BaseModelOutputWithPoolingAndCrossAttentions:
        assert self.features is not None and input_ids is not None
        hidden = self.features.reshape(input_ids.numel() // input_ids.shape[-1], -1, self.features.shape[-1])
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=hidden, pooler_output=pooled)


@contextlib.contextmanager
def encoder_replaced(model: PreTrainedModel, stub: CachedEncoder, features: torch.Tensor) -> Iterator[None]:
    """Run `model` with `stub` in place of its backbone (the module tree and its parameters are restored after)."""
    name, real = model.base_model_prefix, base_model(model)
    stub.features = features
    model._modules[name] = stub
    try:
        yield
    finally:
        model._modules[name] = real
        stub.features = None


class FeatureStore:
    """One split's cached hidden states: a flat float32 array of vectors (`vectors.npy`, memory-mapped) and, per
    row, where its vectors start (`offsets.npy`): `first` keeps one vector per sequence of the row (several for a
    multiple-choice row), `all` one per token."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        meta = json.loads((directory / "meta.json").read_text())
        self.positions, self.nested = meta["positions"], meta["nested"]
        self.vectors = np.load(directory / "vectors.npy", mmap_mode="r")
        self.offsets = np.load(directory / "offsets.npy")

    def gather(self, rows: Sequence[int], length: int, sequences: int = 1) -> torch.Tensor:
        """The batch's features, zero-padded: `first` (B, 1, H), or (B, C, 1, H) for nested rows; `all`
        (B, length, H) (the batch's padded token length)."""
        hidden = self.vectors.shape[1]
        width = sequences if self.positions == "first" else length
        out = np.zeros((len(rows), width, hidden), dtype=np.float32)
        for i, row in enumerate(rows):
            start, end = self.offsets[row], self.offsets[row + 1]
            out[i, : end - start] = self.vectors[start:end]
        tensor = torch.from_numpy(out)
        return tensor.unsqueeze(2) if self.nested else tensor  # (B, C, 1, H): one first position per choice


def _sequences(ids: Any) -> list[list[int]]:
    return ids if ids and isinstance(ids[0], list) else [ids]


def cached_features(
    model: PreTrainedModel, split: Dataset, directory: Path, positions: str, collate: Callable, batch_size: int
) -> FeatureStore:
    """The split's features from `directory`, computed first if absent (once, under a file lock: DDP ranks and
    sweep jobs wait for the first builder; a crash leaves no half cache)."""
    with build_once(directory) as tmp:
        if tmp is not None:
            log.info("Computing the frozen encoder's outputs once (%s, %d rows) into %s", positions, len(split),
                     directory)  # fmt: skip
            _compute(model, split, collate, positions, tmp, batch_size)
    return FeatureStore(directory)


class FrozenFeatures:
    """What a data module calls for each split it loads (TokenizedDataModule.attach_features): that split's
    features under `<root>/<encoder fingerprint>-<positions>/<split>`, computed with the model where it is (its
    device), and checked once per split: the head's outputs on the first rows from the cache equal those from
    the real encoder, so a head that reads other positions than `positions` fails here, not silently later.

    `forward(batch)` is the module's forward (it uses `batch["features"]` when present).
    """

    def __init__(self, model: PreTrainedModel, positions: str, forward: Callable[[dict], Any]) -> None:
        if positions not in POSITIONS:
            raise ValueError(f"positions={positions!r}: one of {POSITIONS}")
        self.model, self.positions, self.forward = model, positions, forward
        self.key: str | None = None  # fingerprint-positions, computed once (the encoder is frozen)
        self.stores: dict[Path, FeatureStore] = {}

    def __call__(self, split: str, rows: Dataset, root: Path, collate: Callable, batch_size: int) -> FeatureStore:
        if self.key is None:
            self.key = f"{encoder_fingerprint(self.model)}-{self.positions}"
        directory = root / self.key / split
        if directory not in self.stores:
            store = cached_features(self.model, rows, directory, self.positions, collate, batch_size)
            self.check(split, rows, store, collate)
            self.stores[directory] = store
        return self.stores[directory]

    @torch.no_grad()
    def check(self, split: str, rows: Dataset, store: FeatureStore, collate: Callable, n: int = 4) -> None:
        """The head on cached features gives what it gives on the real encoder (eval mode, first `n` rows). Per-token
        outputs are compared on real tokens only: padding's encoder outputs are not cached (zeros), and every
        token-level loss and metric masks padding (labels -100, QA's masked span logits)."""
        picked = list(range(min(n, len(rows))))
        if not picked:
            return
        device = next(self.model.parameters()).device
        batch = collate([rows[i] for i in picked])
        ids = batch["input_ids"]
        features = store.gather(picked, ids.shape[-1], ids.shape[1] if ids.dim() == 3 else 1)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        try:
            real = self.forward(batch)
            cached = self.forward({**batch, "features": features.to(device)})
        finally:
            for m, mode in modes.items():
                m.training = mode
        mask = batch.get("attention_mask")
        for name, value in real.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and name != "loss":
                gap = (value.float() - cached[name].float()).abs()
                if mask is not None and gap.shape[: mask.dim()] == mask.shape:  # per-token outputs: padding's
                    gap = gap * mask.reshape(*mask.shape, *[1] * (gap.dim() - mask.dim()))  # are read by nothing
                diff = gap.max().item()
                if diff > 1e-4 * max(1.0, value.float().abs().max().item()):
                    raise ConfigError(
                        f"model.cache_features: {type(self.model).__name__} reads more of the encoder's output than "
                        f"the {self.positions!r} positions cached for it ({name} differs by {diff:.3g} on the first "
                        f"{len(picked)} {split} rows), so training on the cache would not train this model. Fix: "
                        "model.cache_features=false (the frozen encoder then runs every step), or set the task "
                        "module's feature_positions to 'all'."
                    )


@torch.inference_mode()
def _compute(model: PreTrainedModel, split: Dataset, collate: Callable, positions: str, out: Path, size: int) -> None:
    """Run the backbone (eval mode) over the split in length-sorted batches; keep what the head reads."""
    columns = [c for c in ("input_ids", "token_type_ids") if c in split.column_names]
    data = {c: values(split, c) for c in columns}
    ids = data["input_ids"]
    nested = bool(ids) and isinstance(ids[0][0], list)
    if nested and positions == "all":
        raise ValueError("token-level features of rows with several sequences are not supported")
    counts = [len(_sequences(x)) if positions == "first" else len(x) for x in ids]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    hidden = getattr(model.config, "hidden_size", None) or model.config.dim  # DistilBERT names it dim
    vectors = np.lib.format.open_memmap(
        out / "vectors.npy", mode="w+", dtype=np.float32, shape=(int(offsets[-1]), int(hidden))
    )
    encoder = base_model(model)
    training, device = encoder.training, next(encoder.parameters()).device
    encoder.eval()  # frozen: no dropout
    lengths = [max(len(s) for s in _sequences(x)) for x in ids]
    for batch_rows in eval_batches(lengths, size):
        batch = collate([{c: data[c][r] for c in columns} for r in batch_rows])
        flat = {k: v.reshape(-1, v.shape[-1]).to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        hidden_states = encoder(**flat)[0].float().cpu()  # (sequences, T, H)
        grouped = hidden_states.reshape(len(batch_rows), -1, *hidden_states.shape[-2:])  # (B, C or 1, T, H)
        for i, row in enumerate(batch_rows):
            start, count = offsets[row], counts[row]
            kept = grouped[i, :count, 0] if positions == "first" else grouped[i, 0, :count]
            vectors[start : start + count] = kept.numpy()
    encoder.train(training)
    vectors.flush()
    np.save(out / "offsets.npy", offsets)
    (out / "meta.json").write_text(json.dumps({"positions": positions, "nested": nested, "rows": len(ids)}))
