"""The transformer blocks of a backbone, and torch.compile applied to them (`model.compile`).

`model.compile=layers` (or true) compiles each transformer block with dynamic shapes: every block runs
the same code, so one graph serves all blocks and all sequence lengths (measured on CPU with 10 batch
shapes: 1 compiled graph, against 2 for whole-model `compile(dynamic=True)`; benchmarks/bench_compile.py),
no `pad_to_multiple_of` is needed to bound recompiles, and DDP keeps overlapping each block's gradient
all-reduce with the backward of the blocks below (a whole-model graph produces all gradients at its
very end). `model.compile=model` keeps the whole-model compile.
"""

from __future__ import annotations

from torch import nn

from src.models.config import COMPILE_MODES
from src.utils.errors import ConfigError


def layer_classes(model: nn.Module) -> set[type[nn.Module]]:
    """The class(es) of the backbone's transformer blocks: what FSDP shards as a unit and what per-layer
    compile compiles. From the model's `_no_split_modules` (embeddings excluded), else the element class
    of its longest ModuleList (DistilBERT's `transformer.layer`)."""
    names = {n for n in getattr(model, "_no_split_modules", None) or [] if "Embedding" not in n}
    found = {type(m) for m in model.modules() if type(m).__name__ in names}
    if found:
        return found
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not lists:
        raise ConfigError(f"{type(model).__name__} has no list of transformer blocks: use model.compile=model.")
    return {type(max(lists, key=len)[0])}


def compile_backbone(model: nn.Module, mode: bool | str) -> int:
    """Compile `model` in place (state_dict keys unchanged); returns the number of compiled modules."""
    if mode not in COMPILE_MODES:
        raise ConfigError(f"model.compile={mode!r}: use false, layers (same as true) or model.")
    if not mode:
        return 0
    if mode == "model":
        model.compile(dynamic=True)
        return 1
    classes = tuple(layer_classes(model))
    blocks = [m for m in model.modules() if isinstance(m, classes)]
    for block in blocks:
        block.compile(dynamic=True)
    return len(blocks)
