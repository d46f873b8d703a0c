"""Backbone loading: train mode, label names, frozen encoder, safe defaults, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from src.models.backbone import freeze_encoder, load_model, load_tokenizer


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
def test_loaded_model_trains_with_our_labels(kind: str, tiny: dict) -> None:
    model = load_model(AutoModelForSequenceClassification, str(tiny[kind]), label_names=["neg", "pos"])
    assert model.training  # from_pretrained returns eval mode; dropout must be on during fine-tuning
    assert model.config.id2label == {0: "neg", 1: "pos"} and model.config.label2id == {"neg": 0, "pos": 1}


@pytest.mark.parametrize(("kind", "head"), [("bert", {"pooler", "classifier"}), ("distilbert", {"pre_classifier",
                         "classifier"}), ("roberta", {"classifier"})])  # fmt: skip
def test_freeze_encoder_leaves_only_the_head_trainable(kind: str, head: set, tiny: dict) -> None:
    model = load_model(AutoModelForSequenceClassification, str(tiny[kind]), label_names=["a", "b", "c"])
    trainable = freeze_encoder(model)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {part for n in names for part in head if part in n} == head
    assert not any(part in n for n in names for part in ("embeddings", "encoder.layer", "transformer.layer"))
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad) > 0


def test_config_dict_rebuilds_without_weights(tiny: dict) -> None:
    model = load_model(AutoModelForSequenceClassification, str(tiny["bert"]), label_names=["neg", "pos"])
    rebuilt = load_model(AutoModelForSequenceClassification, "unused", label_names=["neg", "pos"],
                         config_dict=model.config.to_dict())  # fmt: skip
    assert type(rebuilt) is type(model) and rebuilt.config.id2label == model.config.id2label


def test_local_dir_without_model_names_the_dir(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=f"model.pretrained='{tmp_path}': could not load a model"):
        load_model(AutoModelForSequenceClassification, str(tmp_path), label_names=["a"])
    with pytest.raises(FileNotFoundError, match="neither a directory nor a hub id"):
        load_tokenizer("./missing/dir", key="model.tokenizer")


def test_unpadded_batches_run_without_a_mask_and_give_the_same_logits(tiny: dict) -> None:
    """No mask when nothing is padded (no mask preparation, no host-device sync there): same logits as an
    all-ones mask."""
    from src.models.base import EncoderModule

    model = load_model(AutoModelForSequenceClassification, str(tiny["bert"]), label_names=["a", "b"]).eval()
    ids = torch.randint(5, model.config.vocab_size, (3, 17), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        masked = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        unmasked = EncoderModule.forward(type("M", (), {"model": model})(), {"input_ids": ids}).logits
    assert torch.allclose(masked, unmasked, atol=1e-6)
