"""Sharded training (FSDP): which modules form a shard unit.

`TransformerBlocks` is an FSDP auto-wrap policy that wraps each transformer block of whatever backbone
it meets (BertLayer, DistilBERT's TransformerBlock, RobertaLayer, ...), found on the model being wrapped,
so the config does not name a class: `configs/trainer/fsdp.yaml`. A size-based policy would wrap single
Linear layers (each over its parameter threshold), gathering weights far more often than needed.
"""

from __future__ import annotations

from torch import nn
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

from src.models.compile import layer_classes


class TransformerBlocks:
    """`auto_wrap_policy` for FSDP: wrap every module whose class is one of the backbone's block classes."""

    def __init__(self) -> None:
        self.classes: set[type[nn.Module]] | None = None

    def __call__(self, module: nn.Module, recurse: bool, nonwrapped_numel: int) -> bool:
        if self.classes is None:  # FSDP's first call is on the root module: learn the block class there
            self.classes = layer_classes(module)
        return transformer_auto_wrap_policy(module, recurse, nonwrapped_numel, transformer_layer_cls=self.classes)
