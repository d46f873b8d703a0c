"""Hub access: an unreachable hub is detected by a quick probe instead of 20-50 s of retries."""

from __future__ import annotations

import time

import datasets
import pytest
from huggingface_hub import constants

from src.models.backbone import load_tokenizer
from src.utils import hub


def test_unreachable_hub_switches_to_offline_fast(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    hub._hub_reachable.cache_clear()
    start = time.monotonic()
    with pytest.raises(OSError, match=r"model\.pretrained='distilbert-base-uncased' is not a local path .*Fix: pass"):
        load_tokenizer("distilbert-base-uncased", key="model.pretrained")
    assert time.monotonic() - start < 10
    assert constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE  # the rest of the run stays offline
    assert any("Hugging Face Hub is unreachable" in r.getMessage() for r in caplog.records)
    hub._hub_reachable.cache_clear()
