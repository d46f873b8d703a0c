"""DDP on CPU (gloo, 2 processes) started as a user would, inside a multirun: every job in its own
directory, rank 1 running the job (not the sweep), no hang, and test metrics that count each example
once (equal to a single-process evaluation of the same checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import compose_config, run_cli, tiny_overrides

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


@pytest.mark.slow  # two DDP ranks per job, 26 s on 2 cores: make test-all
def test_ddp_inside_a_multirun_with_exact_test_metrics(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.eval import evaluate

    sweep = tmp_path / "sweep"
    proc = run_cli(
        "train", "-m", *tiny_overrides(tiny["bert"], sentiment_dir, *DDP, "trainer.max_epochs=1", "export=false"),
        "data.max_samples.test=199", "model.optimizer.lr=1e-3", f"hydra.sweep.dir={sweep}", timeout=240,
    )  # fmt: skip
    # one job keeps the test fast; a rank that re-ran the sweep would launch it again and make a second job dir
    assert proc.stdout.count("Launching 1 jobs locally") == 1
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0"]
    assert json.loads((sweep / "0" / "result.json").read_text())["status"] == "ok"
    assert (sweep / "0" / "train_ddp_process_1.log").is_file()  # rank 1 logs to its own file
    assert (sweep / "summary.md").read_text().count("| ok |") == 1

    # 199 test reviews on 2 ranks: DistributedSampler would score 200 (one twice); we score each once
    ddp_test = json.loads((sweep / "0" / "result.json").read_text())["test"]
    best = next((sweep / "0" / "checkpoints").glob("best-*.ckpt"))
    single = evaluate(compose_config([f"ckpt_path={best}", "logger=none", "trainer=cpu"], "eval", output_dir=tmp_path))
    assert single["test/acc"] == ddp_test
    correct = round(single["test/acc"] * 199)
    assert single["test/acc"] == pytest.approx(correct / 199, abs=1e-6)  # a count out of 199 examples, not 200


@pytest.mark.slow
def test_ddp_with_lora_adapters(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """model/peft=lora under DDP (gloo, 2 ranks): the adapters train, checkpoints hold only the adapters and the head,
    a single-process eval of the best checkpoint (base weights from model.pretrained) reproduces the DDP test, and
    the export is a plain model directory."""
    import torch

    from src.eval import evaluate

    run = tmp_path / "run"
    run_cli(
        "train", *tiny_overrides(tiny["bert"], sentiment_dir, *DDP, "trainer.max_epochs=1", "model/peft=lora"),
        "data.max_samples.test=199", "model.optimizer.lr=1e-2", "callbacks.reports=null", f"hydra.run.dir={run}",
        timeout=240,
    )  # fmt: skip
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "ok"
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    saved = torch.load(best, map_location="cpu", weights_only=True)
    assert saved["peft"]["frozen_keys"] > 0 and all(".lora_" in k or "classifier" in k or "pooler" in k
                                                    for k in saved["state_dict"])  # fmt: skip
    assert any(v.abs().sum() > 0 for k, v in saved["state_dict"].items() if "lora_B" in k)  # zero at start: trained
    single = evaluate(compose_config([f"ckpt_path={best}", "logger=none", "trainer=cpu"], "eval", output_dir=tmp_path))
    assert single["test/acc"] == result["test"]
    assert (run / "hf_model" / "model.safetensors").is_file() and not list((run / "hf_model").glob("adapter*"))
