"""What every task's data module shares: load -> validate -> split -> tokenize once -> cache -> batch.

A task subclass says how to validate its columns and how to tokenize an example; this class owns the
cache, the validation/test carving, subsampling, the dataloaders and the exact-resume state.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from datasets import Dataset, DatasetDict, load_from_disk
from datasets.utils.stratify import stratified_shuffle_split_generate_indices
from lightning.pytorch.trainer.states import TrainerFn
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from src.data.batching import ROW, EvalBatchSampler, FeatureCollator, PadCollator, TrainBatchSampler, batches_per_rank
from src.data.cache import build_once, cache_key, tokenizer_fingerprint
from src.data.config import SPLITS, DataConfig
from src.data.sources import BUILDERS, RawData, Reader, load_raw, source_identity
from src.models.backbone import load_tokenizer
from src.utils.errors import ConfigError, DataError
from src.utils.log import get_logger
from src.utils.schema import build, plain

log = get_logger(__name__)


def raise_if_problems(problems: Mapping[str, list[str]], where: str, counting: str, fix: str) -> None:
    """One error listing every kind of bad row: up to 5 places per kind, how many in all, and the fix."""
    if not problems:
        return
    lines = [
        f"  - {what}: {', '.join(places[:5])}{' ...' if len(places) > 5 else ''} ({len(places)} in all)"
        for what, places in problems.items()
    ]
    raise DataError(f"Invalid data in {where} ({counting}):\n" + "\n".join(lines) + f"\n{fix}")


def column(split: Dataset, name: str) -> np.ndarray:
    """A whole column as a numpy array, read from Arrow at once: under a millisecond for a million rows
    (a Python list of the column takes seconds per 100k rows, datasets' numpy format minutes per million)."""
    return np.asarray(split.with_format("arrow")[name].to_numpy())


def values(split: Dataset, name: str) -> list:
    """A whole column as Python values, read from Arrow at once. `split[name]` is a lazy datasets Column: each
    element read from it costs a table lookup (19 s a pass over a million rows; `Dataset.from_dict` of one
    took 17 minutes)."""
    return split.with_format("arrow")[name].to_pylist()


class TokenizedDataModule(L.LightningDataModule):
    """Base data module; a task subclass sets the class variables and implements `validate` and `tokenize`."""

    task_name: ClassVar[str]  # the cache is kept per task
    config_class: ClassVar[type[DataConfig]] = DataConfig  # the data.* schema of the task family
    readers: ClassVar[dict[str, Reader]] = {}  # extra file readers by suffix (NER: CoNLL text files)
    aligned: ClassVar[dict[str, int]] = {}  # token-aligned list columns and their padding value
    group_column: ClassVar[str | None] = None  # rows that evaluation must keep in one batch (NER windows)
    long_rows: ClassVar[str] = "were longer than max_length={max_length} and were truncated"

    def __init__(
        self,
        data: Mapping | DictConfig,
        *,
        tokenizer: str,
        cache_dir: str,
        seed: int = 42,
        trust_remote_code: bool = False,
        tokenizer_key: str = "model.tokenizer",
    ) -> None:
        super().__init__()
        self.cfg: Any = build(self.config_class, data, "data")  # typed and checked (eval.py's come from a checkpoint)
        self.tokenizer_name = tokenizer
        self.tokenizer_key = tokenizer_key  # the config key named in errors about the tokenizer
        self.cache_root = Path(cache_dir)
        self.seed = seed
        self.trust_remote_code = trust_remote_code
        self.splits: DatasetDict | None = None
        self.meta: dict[str, Any] = {}
        self._resume: tuple[int, int] | None = None
        self._prepared = False
        self._samplers: dict[tuple[int, int], TrainBatchSampler] = {}
        self._features: Callable[..., Any] | None = None  # cached encoder outputs per split (attach_features)
        # stored in checkpoints (plain containers): eval.py rebuilds the same data from them
        self.save_hyperparameters({"data": plain(self.cfg), "seed": seed, "tokenizer": tokenizer}, logger=False)

    # ------------------------------------------------------------------ task hooks
    def validate(self, raw: RawData) -> tuple[DatasetDict, dict[str, Any]]:
        """Check the columns and values of every split, raising with split, file, row and value; return the
        splits in canonical form (`labels` as ids, floats or multi-hot vectors) and the task info
        (`label_names` for a head with a label set), which is kept in the cache's meta.json."""
        raise NotImplementedError

    def tokenize(self, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
        """Tokenized split with at least `input_ids`, `labels`, `length` (tokens kept) and `truncated`."""
        raise NotImplementedError

    def describe(self, splits: DatasetDict, info: dict[str, Any]) -> dict[str, Any]:
        """Info computed from the final splits (after carving), e.g. the train targets' mean; checks that
        need them (a train split with a single class) raise here, before tokenization."""
        return info

    def batch_columns(self) -> list[str]:
        """The columns a batch carries to the module."""
        return ["input_ids", "labels"]

    @property
    def stratify_column(self) -> str | None:
        """Column whose proportions a carved validation/test split keeps (None: a plain random split)."""
        return None

    def model_args(self, class_weights: str | list[float] | None = None) -> dict[str, Any]:
        """What the task's LightningModule needs from the data, as constructor arguments."""
        return {"label_names": self.label_names, "class_weights": self.class_weights(class_weights)}

    # ------------------------------------------------------------------ preparation
    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self._load_tokenizer()

    def _load_tokenizer(self, **kwargs: object) -> PreTrainedTokenizerBase:
        return load_tokenizer(
            self.tokenizer_name, trust_remote_code=self.trust_remote_code, key=self.tokenizer_key, **kwargs
        )

    def min_length(self, tokenizer: PreTrainedTokenizerBase) -> tuple[int, str]:
        """The smallest `data.max_length` the task can work with, and why: a single text's special tokens plus
        one token of text (a pair, a window with its stride or a question with its context need more)."""
        specials = tokenizer.num_special_tokens_to_add(pair=False)
        return specials + 1, f"{specials} special tokens and one token of text"

    @cached_property
    def max_length(self) -> int:
        wanted = self.cfg.max_length
        minimum, why = self.min_length(self.tokenizer)
        if wanted < minimum:
            raise ConfigError(
                f"data.max_length={wanted} is below what this task needs with this tokenizer: {minimum} ({why}). "
                f"Fix: data.max_length>={minimum}."
            )
        limit = self.tokenizer.model_max_length
        if limit and limit < wanted:
            log.warning("data.max_length=%d exceeds the tokenizer's limit %d: using %d.", wanted, limit, limit)
            return int(limit)
        return wanted

    @cached_property
    def cache_path(self) -> Path:
        suffixes = [*BUILDERS, *self.readers]
        parts = {
            "task": self.task_name,
            "source": source_identity(self.cfg.path, self.cfg.revision, suffixes, self.cfg.subset),
            "tokenizer": tokenizer_fingerprint(self.tokenizer),
            "max_length": self.max_length,
            "seed": self.seed,
            # every key that changes the tokenized rows (not batching or reporting keys)
            **{
                f.name: plain(getattr(self.cfg, f.name))
                for f in dataclasses.fields(self.cfg)
                if f.metadata.get("rows", True)
            },
        }
        return self.cache_root / self.task_name / cache_key(parts)

    def prepare_data(self) -> None:
        """Validate and tokenize once; later runs (and other ranks) reuse the cached result."""
        if self._prepared:
            return
        self._prepared = True
        with build_once(self.cache_path) as tmp:
            if tmp is None:
                log.info("Using tokenized cache %s", self.cache_path)
                return
            log.info("Tokenizing %s with %s (max_length=%d) into %s",
                     self.cfg.path, self.tokenizer_name, self.max_length, self.cache_path)  # fmt: skip
            raw = load_raw(self.cfg.path, revision=self.cfg.revision, readers=self.readers, subset=self.cfg.subset)
            splits, info = self.validate(self._rename_splits(raw))
            splits = self._carve_and_sample(splits)
            info = self.describe(splits, info)
            tokenized, stats = DatasetDict(), {}
            for name, split in splits.items():
                start = time.perf_counter()
                tokenized[name] = self.tokenize(split, self.tokenizer, self.max_length)
                stats[name] = self._stats(tokenized[name])
                log.info("Tokenized %s: %d rows in %.1f s", name, len(split), time.perf_counter() - start)
            tokenized.save_to_disk(str(tmp / "data"))
            meta = {"info": info, "splits": stats, "tokenizer": self.tokenizer_name,
                    "max_length": self.max_length, "data": plain(self.cfg)}  # fmt: skip
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        self._report(meta)

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        if not self.cache_path.exists():  # Lightning runs prepare_data on local rank 0 only
            self.prepare_data()
        self.splits = load_from_disk(str(self.cache_path / "data"))
        self.meta = json.loads((self.cache_path / "meta.json").read_text())

    @property
    def info(self) -> dict[str, Any]:
        if not self.meta:
            raise RuntimeError("call setup() before reading the data's info")
        return dict(self.meta["info"])

    @property
    def label_names(self) -> list[str] | None:
        """The label set (None for tasks whose head has none: multiple choice, question answering)."""
        names = self.info.get("label_names")
        return None if names is None else list(names)

    def _rename_splits(self, raw: RawData) -> RawData:
        """`data.splits`: which source split plays train/validation/test (e.g. GLUE's unlabelled test:
        `{train: train, test: validation}`, validation then carved from train)."""
        mapping = self.cfg.splits  # its keys are train/validation/test (the schema checks them)
        if not mapping:
            return raw
        splits, origins = DatasetDict(), {}
        for ours, theirs in mapping.items():
            if theirs is None:
                continue
            if theirs not in raw.splits:
                raise ConfigError(f"data.splits.{ours}={theirs!r}: the data has splits {sorted(raw.splits)}.")
            splits[ours], origins[ours] = raw.splits[theirs], raw.origins.get(theirs, "?")
        return RawData(splits, origins)

    def _carve_and_sample(self, splits: DatasetDict) -> DatasetDict:
        if "train" not in splits:
            raise DataError(f"data.path={self.cfg.path!r} has no train split (found {sorted(splits)}).")
        splits = DatasetDict({k: v for k, v in splits.items() if k in SPLITS})
        total = len(splits["train"])  # fractions are of the original train split
        for name, size_key in (("test", "test_size"), ("validation", "val_size")):
            if name not in splits:
                size = getattr(self.cfg, size_key)
                rows = size if size >= 1 else math.ceil(size * total)
                parts = self._split(splits["train"], test_size=rows, key=f"data.{size_key}={size}")
                splits["train"], splits[name] = parts["train"], parts["test"]
                log.info("No %s split in the data: carved %d rows from train (data.%s=%s, seed %d).",
                         name, rows, size_key, size, self.seed)  # fmt: skip
        for name, limit in self.cfg.max_samples.items():  # keys are splits, limits rows (the schema checks them)
            if limit is not None and limit < len(splits[name]):
                splits[name] = self._split(splits[name], train_size=limit, key=f"data.max_samples.{name}")["train"]
        return DatasetDict({k: splits[k] for k in SPLITS})

    def _split(self, ds: Dataset, *, key: str, **rows: int) -> DatasetDict:
        """Seeded split (stratified by label for single-label classification); `rows` is train_size= or test_size=."""
        ((which, n),) = rows.items()
        if not 0 < n < len(ds):
            raise ConfigError(f"{key}: {n} rows must leave rows on both sides of a split of {len(ds)} rows.")
        if self.stratify_column:
            # datasets' own stratified split with the labels read through Arrow: the same rows as
            # ds.train_test_split(stratify_by_column=...), which reads the column element by element
            n_test = int(n) if which == "test_size" else len(ds) - int(n)
            labels = column(ds, self.stratify_column)
            try:
                train, test = next(stratified_shuffle_split_generate_indices(
                    labels, len(ds) - n_test, n_test, rng=np.random.default_rng(self.seed)))  # fmt: skip
                return DatasetDict(train=ds.select(train), test=ds.select(test))
            except ValueError as err:  # a side smaller than the number of classes cannot be stratified
                log.info("%s: split not stratified (%s).", key, err)
        return ds.train_test_split(seed=self.seed, **{which: int(n)})

    def _stats(self, split: Dataset) -> dict:
        lengths = column(split, "length")
        return {
            "rows": len(split),
            "truncated": int(column(split, "truncated").sum()),
            "tokens_mean": round(float(lengths.mean()), 1) if len(split) else 0.0,
            "tokens_max": int(lengths.max()) if len(split) else 0,
        }

    def _report(self, meta: dict) -> None:
        unit = "sentences" if "sentences" in meta["splits"]["train"] else "rows"  # NER rows are windows
        for name, s in meta["splits"].items():
            if s["truncated"]:
                note = self.long_rows.format(**{**meta["data"], "max_length": meta["max_length"]})
                log.warning("%s: %d of %d %s %s.", name, s["truncated"], s[unit], unit, note)
        log.info("Splits (%s): %s", unit, ", ".join(f"{k} {v[unit]}" for k, v in meta["splits"].items()))

    # ------------------------------------------------------------------ batches
    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    @property
    def eval_batch_size(self) -> int:
        """Rows per evaluation (and feature-caching) batch: `data.eval_batch_size`, else `data.batch_size`."""
        return self.cfg.eval_batch_size or self.cfg.batch_size

    def collator(self) -> PadCollator:
        return PadCollator(self.tokenizer.pad_token_id, self.cfg.pad_to_multiple_of, aligned=self.aligned)

    def attach_features(self, source: Callable[..., Any]) -> None:
        """Batches carry a frozen encoder's cached outputs as `features`, gathered by row (`model.freeze_backbone`,
        src/models/features.py). `source(split, rows, root, collate, batch_size)` gives a split's store; it is
        called when a loader is built, with the model already where it trains (its device)."""
        self._features = source

    def _loader(self, split: str, batch_sampler) -> DataLoader:
        ds = self.splits[split].select_columns(self.batch_columns())
        collate = self.collator()
        if self._features is not None:
            store = self._features(split, ds, self.cache_path / "features", collate, self.eval_batch_size)
            ds = ds.add_column(ROW, np.arange(len(ds)))
            collate = FeatureCollator(collate, store)
        workers = self.cfg.num_workers
        return DataLoader(
            ds,
            batch_sampler=batch_sampler,
            collate_fn=collate,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.trainer is not None and self.trainer.strategy.root_device.type == "cuda",
            # a private generator: creating iterators must not consume the global RNG (exact resume)
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_sampler(self) -> TrainBatchSampler:
        """This rank's training batch sampler, built once (reading the lengths costs a pass over the column)."""
        rank, world = self._rank_world()
        if (rank, world) not in self._samplers:
            self._samplers[(rank, world)] = TrainBatchSampler(
                column(self.splits["train"], "length"),
                self.cfg.batch_size,
                seed=self.seed,
                group_by_length=self.cfg.group_by_length,
                shuffle=self.cfg.shuffle,
                rank=rank,
                world_size=world,
            )
        return self._samplers[(rank, world)]

    def batches_per_epoch(self, world_size: int = 1) -> int:
        """Training batches per epoch on each of `world_size` ranks (what the LR schedule is sized from)."""
        return batches_per_rank(len(self.splits["train"]), self.cfg.batch_size, world_size)

    def train_dataloader(self) -> DataLoader:
        sampler = self.train_sampler()
        if self._resume is not None:  # set by load_state_dict when resuming from a checkpoint
            sampler.resume(*self._resume)
            self._resume = None
        return self._loader("train", sampler)

    def _eval_loader(self, split: str) -> DataLoader:
        rank, world = self._rank_world()
        data = self.splits[split]
        groups = column(data, self.group_column) if self.group_column else None
        sampler = EvalBatchSampler(column(data, "length"), self.eval_batch_size, groups=groups, rank=rank,
                                   world_size=world)  # fmt: skip
        return self._loader(split, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    # ------------------------------------------------------------------ exact resume
    def state_dict(self) -> dict[str, int]:
        """Where the training loop stands, saved in every checkpoint."""
        trainer = self.trainer
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return {}
        # batches whose step ran (`processed` counts the current one at batch end, not the next one at batch start)
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # epoch finished: resume at the next one
            return {"epoch": trainer.current_epoch + 1, "batches_done": 0}
        return {"epoch": trainer.current_epoch, "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state:
            self._resume = (int(state["epoch"]), int(state["batches_done"]))

    # ------------------------------------------------------------------ loss weights
    def class_weights(self, spec: str | list[float] | None) -> list[float] | None:
        """`model.class_weights`: null, `balanced` (n / (k * count_c) over train labels) or explicit weights."""
        if spec is None:
            return None
        if self.label_names is None:
            raise ConfigError("model.class_weights: this task's head has no label set to weight. Fix: set it to null.")
        k = len(self.label_names)
        if spec == "balanced":
            labels = self._flat_train_labels()
            counts = np.bincount(labels[labels >= 0], minlength=k).astype(float)
            if (counts == 0).any():
                missing = [self.label_names[i] for i in np.flatnonzero(counts == 0)]
                raise DataError(f"model.class_weights=balanced: labels {missing} never occur in train.")
            return (counts.sum() / (k * counts)).tolist()
        weights = [float(w) for w in spec]
        if len(weights) != k:
            raise ConfigError(f"model.class_weights has {len(weights)} values; the labels are {self.label_names}.")
        return weights

    def _flat_train_labels(self) -> np.ndarray:
        labels = self.splits["train"]["labels"]
        if len(labels) and isinstance(labels[0], list):
            return np.asarray([x for row in labels for x in row], dtype=np.int64)
        return np.asarray(labels, dtype=np.int64)
