"""GPU defaults decided on CPU: precision auto, TF32, checkpoints as files or DeepSpeed directories, MFU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.training import runtime
from src.training.checkpoints import best_checkpoint, resolve_ckpt_path
from src.training.flops import StepFlops, device_peak_tflops, precision_kind


@pytest.mark.parametrize(
    ("accelerator", "cuda", "bf16", "expected"),
    [
        ("cpu", True, True, "32-true"),
        ("auto", False, False, "32-true"),
        ("gpu", True, True, "bf16-mixed"),  # Ampere, Hopper
        ("auto", True, False, "16-mixed"),  # V100, T4: fp16 with a loss scaler
    ],
)
def test_precision_auto(accelerator: str, cuda: bool, bf16: bool, expected: str, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    assert runtime.resolve_precision("auto", accelerator) == expected
    assert runtime.resolve_precision("32-true", accelerator) == "32-true"  # an explicit choice is kept


def test_tf32_on_cuda_only(monkeypatch) -> None:
    from omegaconf import OmegaConf

    calls = []
    monkeypatch.setattr(torch, "set_float32_matmul_precision", calls.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    runtime.configure_runtime(OmegaConf.create({"float32_matmul_precision": "high", "trainer": {"accelerator": "gpu"}}))
    runtime.configure_runtime(OmegaConf.create({"float32_matmul_precision": "high", "trainer": {"accelerator": "cpu"}}))
    assert calls == ["high"]


def test_checkpoints_may_be_deepspeed_directories(tmp_path: Path) -> None:
    """DeepSpeed writes a checkpoint as a directory of shards: last/auto/best must find it, not skip it."""
    last = tmp_path / "checkpoints" / "last.ckpt"
    (last / "checkpoint").mkdir(parents=True)
    (last / "checkpoint" / "mp_rank_00_model_states.pt").write_bytes(b"shard")
    assert resolve_ckpt_path("last", tmp_path) == str(last)
    assert resolve_ckpt_path("auto", tmp_path) == str(last)
    assert resolve_ckpt_path(str(last), tmp_path) == str(last)

    class Callback:
        best_model_path, last_model_path = str(last), ""

    trainer = type("T", (), {"checkpoint_callbacks": [Callback()]})()
    assert best_checkpoint(trainer) == str(last)


def test_training_flops_of_a_batch(tiny: dict) -> None:
    """6 x weights x tokens (forward + backward over every matrix) + attention's 12 x layers x d x B x T^2."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"], num_labels=2)
    flops = StepFlops(model)
    embedding = model.bert.embeddings
    weights = sum(p.numel() for p in model.parameters()) - sum(
        m.weight.numel()
        for m in (embedding.word_embeddings, embedding.position_embeddings, embedding.token_type_embeddings)
    )
    assert flops.params == weights and (flops.layers, flops.hidden) == (2, 32)
    assert flops(4, 10) == 6 * weights * 40 + 12 * 2 * 32 * 4 * 10 * 10


def test_device_peaks() -> None:
    assert device_peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.4
    assert device_peak_tflops("NVIDIA H100 PCIe", "tf32") == 378.0
    assert device_peak_tflops("NVIDIA A100-SXM4-80GB", precision_kind("bf16-mixed", "highest")) == 312.0
    assert precision_kind("32-true", "high") == "tf32" and precision_kind("32-true", "highest") == "fp32"
    assert device_peak_tflops("Some Future GPU", "bf16") is None


def test_throughput_logs_mfu_with_a_configured_peak(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train
    from tests.conftest import compose_config, tiny_overrides

    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "callbacks.throughput.peak_tflops=0.1")
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert 0 < metrics["train/mfu"] < 1 and metrics["train/step_time_ms"] > 0 and metrics["train/peak_memory_gb"] > 0
    expected = metrics["train/samples_per_sec"] * metrics["train/epoch_seconds"]
    assert expected == pytest.approx(5 * 32, rel=1e-6)  # the last epoch: 5 steps of 32 samples, none warming up


@pytest.mark.parametrize(
    ("trainer", "message"),
    [
        ({"max_epochs": 0, "max_steps": -1}, r"trainer.max_epochs=0 trains nothing"),
        ({"max_epochs": 3, "max_steps": 0}, r"trainer.max_steps=0 trains nothing"),
        ({"max_epochs": 3, "max_steps": -1, "limit_train_batches": 0.0}, r"trainer.limit_train_batches=0.0 trains"),
        ({"max_epochs": -1, "max_steps": -1}, r"the run would never end"),
    ],
)
def test_settings_that_train_nothing_or_forever_are_refused(trainer: dict, message: str) -> None:
    from src.training.config import TrainerConfig
    from src.training.runtime import check_training_length

    with pytest.raises(KeyError, match=message):
        check_training_length(TrainerConfig(**trainer))
    check_training_length(TrainerConfig(max_epochs=-1, max_steps=-1, max_time="00:01:00:00"))  # a time limit ends it


def test_max_epochs_0_fails_before_any_work(tmp_path: Path) -> None:
    """Before: an untrained head was tested, exported and the run ended `ok`."""
    from src.train import train
    from tests.conftest import compose_config

    with pytest.raises(KeyError, match=r"trainer.max_epochs=0 trains nothing.*Fix: trainer.max_epochs>=1"):
        train(compose_config(["trainer.max_epochs=0", "data.path=/nonexistent", "logger=none"], output_dir=tmp_path))
