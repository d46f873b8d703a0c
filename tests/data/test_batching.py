"""Samplers and collator: coverage, determinism, DDP sharding, length grouping, exact resume."""

from __future__ import annotations

import random

import pytest
import torch

from src.data.batching import EvalBatchSampler, PadCollator, TrainBatchSampler

_rng = random.Random(0)
LENGTHS = [_rng.randint(5, 300) for _ in range(1000)]


def test_train_batches_cover_every_index_once_and_are_reproducible() -> None:
    sampler = TrainBatchSampler(LENGTHS, 16, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert list(TrainBatchSampler(LENGTHS, 16, seed=1)) == batches
    sampler.set_epoch(1)
    assert list(sampler) != batches  # a new order every epoch


def padding(batches: list[list[int]]) -> int:
    return sum(max(LENGTHS[i] for i in b) * len(b) - sum(LENGTHS[i] for i in b) for b in batches)


def test_length_grouping_cuts_padding_and_puts_the_longest_batch_first() -> None:
    grouped = list(TrainBatchSampler(LENGTHS, 16, seed=1, group_by_length=True))
    shuffled = list(TrainBatchSampler(LENGTHS, 16, seed=1, group_by_length=False))
    assert padding(grouped) < 0.2 * padding(shuffled)
    assert max(LENGTHS[i] for i in grouped[0]) == max(LENGTHS)


def test_ddp_shards_are_disjoint_equal_and_complete() -> None:
    shards = [list(TrainBatchSampler(LENGTHS, 16, seed=3, rank=r, world_size=3)) for r in range(3)]
    assert len({len(s) for s in shards}) == 1  # same number of steps on every rank
    seen = [i for s in shards for b in s for i in b]
    assert set(seen) == set(range(1000))  # wrap-around padding repeats a few, loses none


def test_resume_skips_exactly_the_consumed_batches() -> None:
    full = TrainBatchSampler(LENGTHS, 16, seed=5)
    full.set_epoch(2)
    expected = list(full)
    resumed = TrainBatchSampler(LENGTHS, 16, seed=5)
    resumed.resume(epoch=2, batches_done=10)
    assert list(resumed) == expected[10:]
    assert list(resumed) == expected  # the skip applies to one pass only
    finished = TrainBatchSampler(LENGTHS, 16, seed=5)
    finished.resume(epoch=2, batches_done=len(finished))  # checkpoint at the end of epoch 2
    full.set_epoch(3)
    assert list(finished) == list(full)


def test_eval_batches_split_ranks_without_duplicates() -> None:
    shards = [list(EvalBatchSampler(LENGTHS, 64, rank=r, world_size=4)) for r in range(4)]
    seen = [i for s in shards for b in s for i in b]
    assert sorted(seen) == list(range(1000))  # every example exactly once: exact DDP metrics


def test_pad_collator_pads_to_longest_and_masks() -> None:
    collate = PadCollator(pad_token_id=0, pad_to_multiple_of=8)
    batch = collate([{"input_ids": [5, 6, 7], "labels": 1}, {"input_ids": [5], "labels": 0}])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0, 0, 0]]
    assert batch["attention_mask"].sum(1).tolist() == [3, 1]
    assert batch["labels"].tolist() == [1, 0]
    tags = PadCollator(pad_token_id=1)([{"input_ids": [2, 3], "labels": [-100, 4]}, {"input_ids": [2], "labels": [5]}])
    assert tags["labels"].tolist() == [[-100, 4], [5, -100]]
    assert tags["input_ids"].dtype == torch.long


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match=r"data\.batch_size"):
        TrainBatchSampler(LENGTHS, 0, seed=0)


def test_unshuffled_batches_repeat_every_epoch() -> None:
    sampler = TrainBatchSampler(LENGTHS, 16, seed=1, shuffle=False)
    first = list(sampler)
    sampler.set_epoch(5)
    assert list(sampler) == first


def test_small_eval_sets_still_give_every_rank_a_batch() -> None:
    shards = [list(EvalBatchSampler(LENGTHS[:60], 64, rank=r, world_size=2)) for r in range(2)]
    assert all(len(s) == 1 for s in shards)
    assert sorted(i for s in shards for b in s for i in b) == list(range(60))
    with pytest.raises(ValueError, match="cannot feed 2 devices"):
        EvalBatchSampler(LENGTHS[:1], 64, rank=0, world_size=2)


def test_eval_groups_stay_in_one_batch() -> None:
    groups = [i // 3 for i in range(30)]  # 10 groups (sentences) of 3 rows (windows)
    batches = list(EvalBatchSampler([10] * 30, 4, groups=groups))
    assert all(len({groups[i] for i in b}) * 3 == len(b) for b in batches)


@pytest.mark.parametrize("world", [2, 3, 4])
def test_every_rank_gets_the_same_number_of_eval_batches(world: int) -> None:
    """FSDP gathers weights in every forward: a rank with one batch more would wait forever."""
    for n in (61, 333, 1000):
        shards = [list(EvalBatchSampler(LENGTHS[:n], 64, rank=r, world_size=world)) for r in range(world)]
        assert len({len(s) for s in shards}) == 1
        assert sorted(i for s in shards for b in s for i in b) == list(range(n))  # each example exactly once
    groups = [i // 3 for i in range(300)]  # NER: windows of a sentence stay together
    shards = [list(EvalBatchSampler([10] * 300, 16, groups=groups, rank=r, world_size=world)) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    assert all(len({groups[i] for i in b}) * 3 == len(b) for s in shards for b in s)


def test_groups_that_cannot_be_spread_evenly_fail_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"cannot be spread evenly over 2 devices\. Fix: use fewer devices"):
        EvalBatchSampler([10] * 9, 4, groups=[0, 0, 0, 1, 1, 1, 2, 2, 2], rank=0, world_size=2)


def test_lightning_sets_the_epoch_through_the_batch_samplers_sampler() -> None:
    """Lightning calls set_epoch only on `dataloader.sampler` or `dataloader.batch_sampler.sampler`."""
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    sampler = TrainBatchSampler(LENGTHS, 16, seed=1)
    loader = DataLoader(list(range(len(LENGTHS))), batch_sampler=sampler)
    orders = []
    for epoch in range(3):
        _set_sampler_epoch(loader, epoch)
        orders.append(list(sampler))
    assert orders[0] != orders[1] != orders[2]


def test_no_attention_mask_when_nothing_is_padded() -> None:
    collate = PadCollator(pad_token_id=0)
    assert "attention_mask" not in collate([{"input_ids": [5, 6]}, {"input_ids": [7, 8]}])
    assert "attention_mask" in collate([{"input_ids": [5, 6]}, {"input_ids": [7]}])
    assert "attention_mask" in PadCollator(0, pad_to_multiple_of=8)([{"input_ids": [5, 6]}])  # padded to 8


def test_float_labels_stay_float() -> None:
    batch = PadCollator(pad_token_id=0)(
        [{"input_ids": [5], "labels": [0.0, 1.0]}, {"input_ids": [6], "labels": [1.0, 1.0]}]
    )
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [[0.0, 1.0], [1.0, 1.0]]
    scores = PadCollator(pad_token_id=0)([{"input_ids": [5], "labels": 2.5}, {"input_ids": [6], "labels": 0.5}])
    assert scores["labels"].dtype == torch.float32


def test_nested_sequences_pad_per_choice_with_a_mask_for_absent_choices() -> None:
    """Multiple choice: (B, C, T); a question with fewer choices gets rows of padding, fully masked; aligned columns
    take the token length, other nested columns their own, strings pass through, offsets (T, 2) pad with -100."""
    collate = PadCollator(pad_token_id=0, pad_to_multiple_of=4)
    batch = collate([
        {"input_ids": [[5, 6], [7, 8, 9]], "token_type_ids": [[0, 1], [0, 1, 1]], "labels": 1, "text": "q1"},
        {"input_ids": [[5], [6], [7]], "token_type_ids": [[0], [0], [1]], "labels": 2, "text": "q2"},
    ])  # fmt: skip
    assert batch["input_ids"].shape == (2, 3, 4) and batch["token_type_ids"].shape == (2, 3, 4)
    assert batch["input_ids"][0].tolist() == [[5, 6, 0, 0], [7, 8, 9, 0], [0, 0, 0, 0]]
    assert batch["attention_mask"].sum(-1).tolist() == [[2, 3, 0], [1, 1, 1]]
    assert batch["labels"].tolist() == [1, 2] and batch["text"] == ["q1", "q2"]
    offsets = PadCollator(0)([{"input_ids": [1, 2, 3], "offsets": [[0, 1], [2, 4]]}, {"input_ids": [1], "offsets": []}])
    assert offsets["offsets"].tolist() == [[[0, 1], [2, 4]], [[-100, -100], [-100, -100]]]
    assert "attention_mask" not in collate([{"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]]}])  # nothing padded
