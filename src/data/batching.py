"""Batches: dynamic padding, length grouping, DDP sharding and exact mid-epoch resume.

We shard across ranks ourselves (the Trainer runs with ``use_distributed_sampler=False``) so that:
- training batches are grouped by length *before* sharding, every rank gets the same number of batches;
- evaluation is split without the duplicated samples ``DistributedSampler`` pads in, so DDP test
  metrics count every example exactly once;
- the training order is a pure function of (seed, epoch), and a resumed run can skip exactly the
  batches the interrupted run consumed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import ClassVar

import torch
from torch.utils.data import Sampler


class TrainBatchSampler(Sampler[list[int]]):
    """Shuffled (optionally length-grouped) batches of indices for one rank, reproducible per epoch.

    Length grouping follows the Hugging Face recipe: shuffle, cut into mega-batches of 50 batches,
    sort each mega-batch by length so a batch holds similar lengths (little padding), keep the
    mega-batch order random. The batch holding the longest example goes first so memory errors show
    up at step 1, not after an hour.
    """

    def __init__(
        self,
        lengths: Sequence[int],
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
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.shuffle = shuffle  # False: the same batches in the same order every epoch (debug=overfit)
        self.rank, self.world_size = rank, world_size
        self.megabatch_mult = megabatch_mult
        self.epoch = 0
        self._skip = 0  # batches of `self.epoch` already consumed by an interrupted run

    def set_epoch(self, epoch: int) -> None:  # called by Lightning at every epoch start
        if epoch != self.epoch:
            self.epoch, self._skip = epoch, 0

    def resume(self, epoch: int, batches_done: int) -> None:
        """Continue epoch `epoch` after its first `batches_done` batches (from a checkpoint)."""
        self.epoch, self._skip = epoch, batches_done
        if batches_done >= len(self):
            self.epoch, self._skip = epoch + 1, 0

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.lengths) / self.batch_size) / self.world_size)

    def _global_batches(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g) if self.shuffle else torch.arange(len(self.lengths))
        if not self.group_by_length:
            return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        mega = self.batch_size * self.megabatch_mult
        batches: list[list[int]] = []
        for start in range(0, len(order), mega):
            chunk = order[start : start + mega]
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        longest = max(range(len(batches)), key=lambda i: int(self.lengths[batches[i][0]]))
        batches[0], batches[longest] = batches[longest], batches[0]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._global_batches()
        # every rank needs the same number of steps: wrap around, as DistributedSampler does
        padded = len(self) * self.world_size
        batches += batches[: padded - len(batches)]
        mine = batches[self.rank :: self.world_size]
        skip, self._skip = self._skip, 0
        yield from mine[skip:]


class EvalBatchSampler(Sampler[list[int]]):
    """Length-sorted batches (little padding), split across ranks without duplicates.

    `groups` (e.g. the sentence each NER window comes from) keeps the rows of a group in one batch, so
    a sentence split into windows is scored whole. Ranks may get one batch more or less than each
    other; torchmetrics syncs metric states at epoch end, so every example counts exactly once.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        groups: Sequence[int] | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        members: dict[int, list[int]] = {}
        for row, group in enumerate(groups if groups is not None else range(len(lengths))):
            members.setdefault(group, []).append(row)
        size = {g: sum(lengths[r] for r in rows) for g, rows in members.items()}
        batches: list[list[int]] = []  # each batch is a list of groups
        for group in sorted(members, key=lambda g: size[g], reverse=True):
            if not batches or sum(len(members[g]) for g in batches[-1]) + len(members[group]) > batch_size:
                batches.append([])
            batches[-1].append(group)
        # every rank needs at least one batch (a rank without one stops DDP): split the largest batches
        while 0 < len(batches) < world_size and max(len(b) for b in batches) > 1:
            largest = max(batches, key=len)
            batches.remove(largest)
            batches += [largest[: len(largest) // 2], largest[len(largest) // 2 :]]
        if len(batches) < world_size:
            raise ValueError(f"{len(batches)} evaluation examples cannot feed {world_size} devices; use fewer devices.")
        self.batches = [[row for g in batch for row in members[g]] for batch in batches][rank::world_size]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches


class PadCollator:
    """Pads a list of examples to the longest in the batch (rounded up to `pad_to_multiple_of`).

    Token-aligned fields (``input_ids``, ``labels``, ``word_ids``) are padded to the same length, with
    the tokenizer's pad id, -100 (ignored by the loss) and -1 (no word); other list fields (NER's
    per-sentence ``tags``) to their own longest, with -100. Scalars become a tensor. Adds
    ``attention_mask``.
    """

    ALIGNED: ClassVar[dict[str, int | None]] = {"input_ids": None, "labels": -100, "word_ids": -1}

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.multiple = pad_to_multiple_of

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(e["input_ids"]) for e in examples)
        if self.multiple:
            longest = math.ceil(longest / self.multiple) * self.multiple
        batch: dict[str, torch.Tensor] = {}
        for name in examples[0]:
            values = [e[name] for e in examples]
            if not isinstance(values[0], (list, tuple)):
                batch[name] = torch.tensor(values)
                continue
            aligned = name in self.ALIGNED
            fill = (self.ALIGNED[name] if name != "input_ids" else self.pad_token_id) if aligned else -100
            width = longest if aligned else max(len(v) for v in values)
            out = torch.full((len(values), width), fill, dtype=torch.long)  # (B, T)
            for row, v in enumerate(values):
                out[row, : len(v)] = torch.as_tensor(v, dtype=torch.long)
            batch[name] = out
        mask = torch.zeros((len(examples), longest), dtype=torch.long)
        for row, e in enumerate(examples):
            mask[row, : len(e["input_ids"])] = 1
        batch["attention_mask"] = mask
        return batch
