"""Batches: dynamic padding, length grouping, DDP sharding and exact mid-epoch resume.

We shard across ranks ourselves (the Trainer runs with ``use_distributed_sampler=False``) so that:
- training batches are grouped by length *before* sharding, every rank gets the same number of batches;
- evaluation is split without the duplicated samples ``DistributedSampler`` pads in, so DDP test
  metrics count every example exactly once, and every rank still runs the same number of batches
  (FSDP gathers weights in every forward: a rank with one batch more would wait forever);
- the training order is a pure function of (seed, epoch), and a resumed run can skip exactly the
  batches the interrupted run consumed.

Lengths arrive as numpy arrays read from Arrow at once: building a sampler is vectorised, O(n).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from src.utils.errors import ConfigError, DataError


def batches_per_rank(rows: int, batch_size: int, world_size: int = 1) -> int:
    """Training batches per epoch on each rank: the global batches, wrapped around to a multiple of ranks."""
    return math.ceil(math.ceil(rows / batch_size) / world_size)


class _EpochHook:
    """What Lightning finds at `dataloader.batch_sampler.sampler`: it calls `set_epoch` there at every epoch
    start (it never looks for `set_epoch` on the batch sampler itself)."""

    def __init__(self, owner: TrainBatchSampler) -> None:
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class TrainBatchSampler(Sampler[list[int]]):
    """Shuffled (optionally length-grouped) batches of indices for one rank, reproducible per epoch.

    Length grouping follows the Hugging Face recipe: shuffle, cut into mega-batches of 50 batches,
    sort each mega-batch by length so a batch holds similar lengths (little padding), keep the
    mega-batch order random. The batch holding the longest example goes first so memory errors show
    up at step 1, not after an hour.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        seed: int,
        group_by_length: bool = True,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        megabatch_mult: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.shuffle = shuffle  # False: the same batches in the same order every epoch (debug=overfit)
        self.rank, self.world_size = rank, world_size
        self.megabatch_mult = megabatch_mult
        self.epoch = 0
        self._skip = 0  # batches of `self.epoch` already consumed by an interrupted run
        self.sampler = _EpochHook(self)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning (through `self.sampler`) at every epoch start."""
        if epoch != self.epoch:
            self.epoch, self._skip = epoch, 0

    def resume(self, epoch: int, batches_done: int) -> None:
        """Continue epoch `epoch` after its first `batches_done` batches (from a checkpoint)."""
        self.epoch, self._skip = epoch, batches_done
        if batches_done >= len(self):
            self.epoch, self._skip = epoch + 1, 0

    def __len__(self) -> int:
        return batches_per_rank(len(self.lengths), self.batch_size, self.world_size)

    def global_batches(self) -> list[np.ndarray]:
        """Every rank's batches of this epoch, in order (vectorised: no Python loop over rows)."""
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.group_by_length:
            mega = np.arange(n) // (self.batch_size * self.megabatch_mult)
            # within each mega-batch, longest first (lexsort: last key is the primary one; stable)
            order = order[np.lexsort((-self.lengths[order], mega))]
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.group_by_length and batches:
            longest = int(np.argmax(self.lengths[order])) // self.batch_size
            batches[0], batches[longest] = batches[longest], batches[0]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.global_batches()
        # every rank needs the same number of steps: wrap around, as DistributedSampler does
        padded = len(self) * self.world_size
        batches += batches[: padded - len(batches)]
        mine = batches[self.rank :: self.world_size]
        skip, self._skip = self._skip, 0
        for batch in mine[skip:]:
            yield batch.tolist()


def eval_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, groups: Sequence[int] | None = None) -> list:
    """Length-sorted batches of row indices (longest first); the rows of a group stay in one batch."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if groups is None:  # each row alone: sort and cut
        order = np.argsort(-lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    rows_per_group = np.bincount(inverse)
    tokens_per_group = np.bincount(inverse, weights=lengths)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(rows_per_group)[:-1])
    batches: list[list[np.ndarray]] = []
    size = batch_size  # rows in the current batch (start "full": the first group opens a batch)
    for group in np.argsort(-tokens_per_group, kind="stable"):
        if size + rows_per_group[group] > batch_size:
            batches.append([])
            size = 0
        batches[-1].append(members[group])
        size += rows_per_group[group]
    return [np.concatenate(parts) for parts in batches]


def even_split(batches: list, groups: Sequence[int] | None, world_size: int) -> list:
    """Split the largest batches until every rank gets the same number (no example is duplicated)."""
    groups = None if groups is None else np.asarray(groups)
    batches = list(batches)
    while len(batches) % world_size or len(batches) < world_size:
        splittable = [
            i for i, b in enumerate(batches) if len(b) > 1 and (groups is None or len(np.unique(groups[b])) > 1)
        ]
        if not splittable:
            raise DataError(
                f"{len(batches)} evaluation batches (of whole groups such as NER sentences) cannot be spread evenly "
                f"over {world_size} devices. Fix: use fewer devices (trainer.devices) or more evaluation data."
            )
        i = max(splittable, key=lambda j: len(batches[j]))
        batch = batches.pop(i)
        if groups is None:
            halves = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
        else:  # cut between groups: the first half of the batch's groups, then the rest
            ids = list(dict.fromkeys(groups[batch].tolist()))
            first = np.isin(groups[batch], ids[: len(ids) // 2])
            halves = [batch[first], batch[~first]]
        batches[i:i] = halves
    return batches


class EvalBatchSampler(Sampler[list[int]]):
    """Length-sorted batches (little padding), split across ranks without duplicates, the same number of
    batches on every rank.

    `groups` (e.g. the sentence each NER window comes from) keeps the rows of a group in one batch, so
    a sentence split into windows is scored whole. torchmetrics syncs metric states at epoch end, so
    every example counts exactly once.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        groups: Sequence[int] | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(lengths) < world_size:
            raise DataError(f"{len(lengths)} evaluation examples cannot feed {world_size} devices; use fewer devices.")
        batches = even_split(eval_batches(lengths, batch_size, groups), groups, world_size)
        self.batches = [b.tolist() for b in batches[rank::world_size]]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches


def _leaf(values: list) -> Any:
    """The first scalar inside nested lists (None if every list is empty)."""
    stack = list(reversed(values))
    while stack:
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(reversed(value))
        else:
            return value
    return None


def _shape(values: list) -> list[int]:
    """Extents of a list of nested lists: the longest at every depth (ragged rows are padded to it)."""
    shape, level = [len(values)], values
    while level and all(isinstance(v, (list, tuple)) for v in level):
        shape.append(max(len(v) for v in level))
        level = [x for v in level for x in v]
    return shape


def _fill(out: torch.Tensor, values: list) -> None:
    """Write nested lists into the front of `out` (what is not written keeps the padding value)."""
    if out.dim() == 1:
        out[: len(values)] = torch.as_tensor(values, dtype=out.dtype)
        return
    for row, value in enumerate(values):
        _fill(out[row], value)


class PadCollator:
    """Pads a list of examples into tensors: any nesting depth, so one collator serves every input shape.

    `input_ids` is a list of token ids (one sequence per example) or nested lists of them (multiple choice:
    one sequence per choice, `(B, C, T)`); fewer sequences in a row (a question with fewer choices) are padded
    like short ones, with an attention mask of zeros. Token-aligned columns (`input_ids` with the pad id,
    `token_type_ids` with 0, and the task's `aligned` ones, e.g. NER's `labels` with -100) get the batch's
    token length (rounded up to `pad_to_multiple_of`); other list columns are padded to their own longest
    with -100 (NER's per-sentence `tags`, QA's offsets). Scalars become a tensor; float values stay float
    (regression targets, multi-hot labels). Strings (a context, the gold answers) pass through as lists:
    Lightning moves the tensors to the device and leaves them alone.

    `attention_mask` is added only when some position is padded: a batch of equal lengths (common with
    length grouping) runs without a mask, which skips the mask preparation and its host-device sync.
    """

    def __init__(
        self, pad_token_id: int, pad_to_multiple_of: int | None = None, aligned: dict[str, int] | None = None
    ) -> None:
        self.aligned = {"input_ids": pad_token_id, "token_type_ids": 0, **(aligned or {})}
        self.multiple = pad_to_multiple_of

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [e["input_ids"] for e in examples]
        shape = _shape(ids)  # (B, T) or (B, C, T)
        real = sum(len(v) for v in _sequences(ids))
        if self.multiple:
            shape[-1] = math.ceil(shape[-1] / self.multiple) * self.multiple
        batch: dict[str, Any] = {}
        for name in examples[0]:
            values = [e[name] for e in examples]
            leaf = _leaf(values)
            if isinstance(leaf, str) or (leaf is None and not isinstance(values[0], (list, tuple))):
                batch[name] = values  # text: passed through
            elif not isinstance(values[0], (list, tuple)):
                batch[name] = torch.tensor(values)
            else:
                dtype = torch.float32 if isinstance(leaf, float) else torch.long
                own = shape if name in self.aligned else _shape(values)
                out = torch.full(own, self.aligned.get(name, -100), dtype=dtype)
                _fill(out, values)
                batch[name] = out
        if real < math.prod(shape):
            mask = torch.zeros(shape, dtype=torch.long)
            _fill(mask, _ones_like(ids))
            batch["attention_mask"] = mask
        return batch


def _sequences(ids: list) -> list[list[int]]:
    """The innermost token lists of nested input ids."""
    while ids and isinstance(ids[0], (list, tuple)) and ids[0] and isinstance(ids[0][0], (list, tuple)):
        ids = [x for v in ids for x in v]
    return ids


def _ones_like(values: list) -> list:
    return [_ones_like(v) if isinstance(v, (list, tuple)) else 1 for v in values]


ROW = "__row__"  # the row index a batch's examples carry when features are gathered for them


class FeatureCollator:
    """`collate`, plus the batch's cached encoder outputs (`features`), gathered by row from `store` (an object
    with `gather(rows, length, sequences)`: src/models/features.FeatureStore) and padded like the batch."""

    def __init__(self, collate: Any, store: Any) -> None:
        self.collate, self.store = collate, store

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [e.pop(ROW) for e in examples]
        batch = self.collate(examples)
        ids = batch["input_ids"]  # (B, T) or (B, C, T)
        batch["features"] = self.store.gather(rows, ids.shape[-1], ids.shape[1] if ids.dim() == 3 else 1)
        return batch
