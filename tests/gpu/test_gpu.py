"""The GPU paths, run when a CUDA device is present (`pytest -m gpu`); skipped on CPU-only machines.

On a new GPU box: `python -m pytest -m gpu -q` (see docs/gpu.md). The multi-GPU tests need 2 devices.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import compose_config, run_cli, tiny_overrides

pytestmark = pytest.mark.gpu


def two_gpus() -> bool:
    return torch.cuda.device_count() >= 2


def on_gpu(*overrides: str, trainer: str = "gpu") -> list[str]:
    """tiny_overrides' CPU run moved to the GPU (`trainer=<trainer>`)."""
    return [o for o in overrides if o != "trainer=cpu"] + [f"trainer={trainer}", "data.num_workers=2"]


def test_gpu_defaults_bf16_tf32_and_throughput(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """trainer=gpu: precision auto picks bf16 where supported, TF32 is on, MFU/step time/peak memory are logged."""
    from src.train import train

    overrides = on_gpu(*tiny_overrides(tiny["bert"], sentiment_dir, "trainer.max_epochs=1"))
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert torch.get_float32_matmul_precision() == "high"
    assert metrics["train/mfu"] > 0 and metrics["train/peak_memory_gb"] > 0
    assert metrics["test/acc"] > 0.5


def test_no_host_device_sync_in_forward_and_backward(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """torch's sync debug mode raises on any synchronizing call: none from a batch's start to its optimizer
    step (mask preparation skipped for unpadded batches, no loss.item(), no per-step logging reads)."""
    from src.train import train
    from tests.helpers import SyncFreeSteps

    extra = ("trainer.max_epochs=1", "logger=none", "+trainer.enable_progress_bar=false",
             "+callbacks.sync._target_=tests.helpers.SyncFreeSteps")  # fmt: skip
    train(compose_config(on_gpu(*tiny_overrides(tiny["bert"], sentiment_dir, *extra)), output_dir=tmp_path))
    assert SyncFreeSteps.checked > 5


def test_per_layer_compile_on_gpu(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    overrides = on_gpu(*tiny_overrides(tiny["bert"], sentiment_dir, "trainer.max_epochs=1", "model.compile=layers"))
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert metrics["test/acc"] > 0.5 and (tmp_path / "hf_model" / "model.safetensors").is_file()


def test_fp16_with_a_loss_scaler(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    overrides = on_gpu(*tiny_overrides(tiny["bert"], sentiment_dir, "trainer.max_epochs=1", "precision=16-mixed"))
    assert train(compose_config(overrides, output_dir=tmp_path))["test/loss"] > 0


@pytest.mark.skipif(not two_gpus(), reason="needs 2 GPUs")
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_gpus_train_test_and_export(strategy: str, tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """DDP and FSDP on 2 GPUs: clipping, weight decay groups, equal eval batches, export of whole weights."""
    run = tmp_path / "run"
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "trainer.max_epochs=1")[: -0 or None]
    run_cli("train", *[o for o in overrides if o != "trainer=cpu"], f"trainer={strategy}", "trainer.devices=2",
            f"hydra.run.dir={run}", timeout=600)  # fmt: skip
    assert json.loads((run / "result.json").read_text())["status"] == "ok"
    assert (run / "hf_model" / "model.safetensors").is_file()
