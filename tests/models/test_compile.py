"""Transformer blocks of each backbone (FSDP's shard unit, per-layer compile) and torch.compile modes."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from src.models.compile import compile_backbone, layer_classes
from src.training.distributed import TransformerBlocks

BLOCKS = {"bert": "BertLayer", "distilbert": "TransformerBlock", "roberta": "RobertaLayer"}


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_each_backbones_block_class_is_found(kind: str, tiny: dict) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny[kind], num_labels=2)
    assert {c.__name__ for c in layer_classes(model)} == {BLOCKS[kind]}


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_fsdp_policy_wraps_exactly_the_transformer_blocks(kind: str, tiny: dict) -> None:
    """The policy FSDP calls while walking the module tree: recurse everywhere, wrap the blocks only."""
    model = AutoModelForSequenceClassification.from_pretrained(tiny[kind], num_labels=2)
    policy = TransformerBlocks()
    assert policy(model, recurse=True, nonwrapped_numel=0)  # the root: learns the block class
    wrapped = [n for n, m in model.named_modules() if n and policy(m, recurse=False, nonwrapped_numel=0)]
    layers = getattr(model.config, "num_hidden_layers", None) or model.config.n_layers  # DistilBERT's name
    assert len(wrapped) == layers
    assert all(type(model.get_submodule(n)).__name__ == BLOCKS[kind] for n in wrapped)


def test_compile_modes(tiny: dict) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"], num_labels=2)
    keys = set(model.state_dict())
    assert compile_backbone(model, False) == 0
    assert compile_backbone(model, "layers") == 2  # the two BertLayer blocks, each with dynamic shapes
    assert set(model.state_dict()) == keys  # in place: checkpoints and exports keep their keys
    with pytest.raises(KeyError, match=r"model.compile='everything': use false, layers"):
        compile_backbone(model, "everything")


@pytest.mark.slow
def test_per_layer_compile_compiles_once_for_every_length(tiny: dict) -> None:
    """10 batch shapes through per-layer compile: one compiled graph (whole-model dynamic compile: 2)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"], num_labels=2)
    compile_backbone(model, "layers")
    for length in (37, 64, 91, 128, 50, 77, 12, 100, 23, 128):
        ids = torch.randint(5, model.config.vocab_size, (8, length))
        model(input_ids=ids, labels=torch.zeros(8, dtype=torch.long)).loss.backward()
    assert counters["frames"]["ok"] == 1
