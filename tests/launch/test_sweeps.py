"""Multiruns: failed jobs do not stop a sweep, the summary table, Optuna with SQLite storage, pruning,
one job per GPU, resuming requeued jobs."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from queue import Empty

import pytest
import torch

from src.launch.gpu_pool import claim_gpu
from src.launch.pruning import CURVE, MedianPruning
from src.launch.sweep import RESULT
from src.training.checkpoints import resolve_ckpt_path
from tests.conftest import run_cli, tiny_overrides


def test_failed_job_does_not_stop_the_sweep_and_summary_ranks_jobs(
    tiny: dict, sentiment_dir: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "train", "-m", *tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr"),
        "data.max_length=64,2", f"hydra.sweep.dir={sweep}",  # 2: below what BERT needs (3): job 1 fails
    )  # fmt: skip
    assert proc.returncode == 0
    results = {r: json.loads((sweep / r / RESULT).read_text()) for r in ("0", "1")}
    assert results["0"]["status"] == "ok" and isinstance(results["0"]["best_val"], float)
    assert results["1"]["status"] == "failed" and "data.max_length=2 is below" in results["1"]["error"]
    lines = (sweep / "summary.md").read_text().splitlines()
    assert "| job | overrides | status | best val/acc | test/acc | seconds | error |" in lines
    assert lines[4].startswith("| 0 | data.max_length=64 | ok |") and lines[5].startswith(
        "| 1 | data.max_length=2 | failed |"
    )
    assert (sweep / "summary.csv").read_text().startswith("job,overrides,status,best val/acc,test/acc,seconds,error")


@pytest.mark.slow  # ~30 s: `make test-all` runs it
def test_optuna_search_with_sqlite_storage(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "optuna.db"
    proc = run_cli(
        "train", "hparams_search=optuna", *tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none"),
        "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1", f"hydra.sweeper.storage=sqlite:///{db}",
        "callbacks.pruning.n_startup_jobs=1", f"hydra.sweep.dir={tmp_path / 'sweep'}", "test=false",
    )  # fmt: skip
    assert "Best parameters" in proc.stdout + proc.stderr
    with sqlite3.connect(db) as conn:
        states = [s for (s,) in conn.execute("select state from trials")]
    assert states == ["COMPLETE"] * 2  # the study survives in the database (resumable)
    curves = sorted((tmp_path / "sweep").glob(f"*/{CURVE}"))
    assert len(curves) == 2 and all(len(json.loads(c.read_text())) >= 1 for c in curves)


def test_median_pruning_rule(tmp_path: Path) -> None:
    pruner = MedianPruning("val/acc", "max", n_startup_jobs=2, n_warmup_rounds=1)
    others = [[0.6, 0.8], [0.5, 0.7], [0.4, 0.9]]
    pruner.curve = [0.3]
    assert pruner.should_prune(others) == (False, None)  # warm-up round: never pruned
    pruner.curve = [0.3, 0.75]
    assert pruner.should_prune(others) == (True, 0.8)  # best 0.75 < median 0.8 at round 2
    pruner.curve = [0.3, 0.85]
    assert not pruner.should_prune(others)[0]
    assert not pruner.should_prune(others[:1])[0]  # too few finished jobs to judge
    for job, curve, status in (("0", [0.6], "ok"), ("1", [0.1], "failed"), ("2", [0.5], None)):
        (tmp_path / job).mkdir()
        (tmp_path / job / CURVE).write_text(json.dumps(curve))
        if status:
            (tmp_path / job / RESULT).write_text(json.dumps({"status": status}))
    assert pruner.finished_curves(tmp_path, own_dir=tmp_path / "3") == [[0.6]]  # not failed, not running


def test_concurrent_claims_get_different_gpus(tmp_path: Path) -> None:
    """Two processes claiming at once from 2 GPUs get one each; a third waits (here: times out)."""
    import multiprocessing as mp

    def claim(queue: mp.Queue) -> None:
        queue.put((claim_gpu(tmp_path, ["0", "1"], poll_seconds=0.05), os.environ["CUDA_VISIBLE_DEVICES"]))
        time.sleep(2)  # keep the lock while the others try

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=claim, args=(queue,)) for _ in range(3)]
    for w in workers:
        w.start()
    got = sorted(queue.get(timeout=20) for _ in range(2))
    assert got == [("0", "0"), ("1", "1")]
    with pytest.raises(Empty):
        queue.get(timeout=1)  # the third process is still waiting for a free GPU
    for w in workers:
        w.join(timeout=10)
    assert queue.get(timeout=5)[0] in {"0", "1"}  # it got one once a holder exited
    with pytest.raises(RuntimeError, match="found no GPU"):
        claim_gpu(tmp_path, [])


@pytest.mark.slow
def test_gpu_pool_gives_each_worker_its_own_gpu(tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """launcher=gpu_pool: 2 'GPUs' -> 2 parallel workers, each owning one (checked on CPU via the claim)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    sweep = tmp_path / "sweep"
    run_cli(
        "train", "-m", "launcher=gpu_pool", "trainer.accelerator=cpu",
        *tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr")[:-2], "trainer.accelerator=cpu",
        "model.optimizer.lr=1e-3,2e-3", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    claims = [
        line
        for job in sweep.glob("*/train.log")
        for line in job.read_text().splitlines()
        if "runs its jobs on GPU" in line
    ]
    assert sorted(line.rsplit(" ", 1)[-1] for line in claims) == ["0.", "1."]
    assert all(json.loads((sweep / j / RESULT).read_text())["status"] == "ok" for j in ("0", "1"))
    assert sorted(os.listdir(sweep / ".gpu_locks")) == ["gpu0.lock", "gpu1.lock"]


def test_ckpt_path_auto_resumes_only_when_there_is_a_checkpoint(tmp_path: Path) -> None:
    assert resolve_ckpt_path("auto", tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    torch.save({"state_dict": {}}, tmp_path / "checkpoints" / "last.ckpt")
    assert resolve_ckpt_path("auto", tmp_path) == str(tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt does not exist"):
        resolve_ckpt_path("nope.ckpt", tmp_path)
