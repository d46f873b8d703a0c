"""The tiny demo/test backbones: rebuilt from scratch they must be identical, or seeded runs would differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.demo.__main__ import demo_corpus
from src.demo.backbones import build_tiny_backbone


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_tiny_backbone_is_the_same_every_build(kind: str, tmp_path: Path) -> None:
    texts = demo_corpus()
    first, second = (build_tiny_backbone(kind, tmp_path / name, texts) for name in ("a", "b"))
    for name in ("tokenizer.json", "model.safetensors"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
