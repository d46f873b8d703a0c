"""One run directory, one run (src/training/run_dir.py, RunCheckpoint in src/training/checkpoints.py).

Before: a resume with another batch size or data path ran silently and overwrote .hydra/config.yaml; a copied
run directory resumed with a stale best score (tested and exported the wrong model) and wrote last-v1.ckpt
beside the old last.ckpt; two processes could write one directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import compose_config, run_cli, tiny_overrides


@pytest.fixture
def run(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A finished 2-epoch run (best and last checkpoints) and its overrides."""
    from src.train import train

    base = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none", "test=false", "export=false")
    train(compose_config(base, output_dir=tmp_path / "run"))
    return tmp_path / "run", base


def test_a_resume_that_changes_the_training_is_refused_naming_each_key(
    run: tuple[Path, list[str]], sentiment_dir: Path, tmp_path: Path
) -> None:
    from src.train import train

    path, base = run
    other = tmp_path / "other-data"
    shutil.copytree(sentiment_dir, other)
    changed = [*base, "ckpt_path=last", "data.batch_size=16", f"data.path={other}", "trainer.max_epochs=3"]
    with pytest.raises(KeyError, match=r"(?s)with another config would mix two runs.*data.batch_size: 32 -> 16.*"
                       r"data.path: .* -> .*other-data.*trainer.max_epochs: 2 -> 3.*allow_changes=\[data.batch_size,"
                       r"data.path,trainer.max_epochs\]"):  # fmt: skip
        train(compose_config(changed, output_dir=path))
    # an explicit acceptance resumes, and the change is recorded beside the run
    train(compose_config([*base, "ckpt_path=last", "trainer.max_epochs=3", "allow_changes=[trainer.max_epochs]"],
                         output_dir=path))  # fmt: skip
    (record,) = [json.loads(line) for line in (path / "resumes.jsonl").read_text().splitlines()]
    assert record["accepted"] == ["trainer.max_epochs"] and record["changes"]["trainer.max_epochs"] == [2, 3]


def test_changes_that_keep_the_training_are_allowed(run: tuple[Path, list[str]]) -> None:
    """Loggers, workers, evaluation batches, and the device layout when the global batch is kept (16 x 2 accumulated
    = 32 x 1)."""
    from src.train import train
    from src.training.run_dir import config_changes, unsafe_changes

    path, base = run
    same = [*base, "ckpt_path=last", "logger=csv", "data.num_workers=1", "data.eval_batch_size=8",
            "data.batch_size=16", "trainer.accumulate_grad_batches=2"]  # fmt: skip
    train(compose_config(same, output_dir=path))
    saved, current = {"data": {"batch_size": 32}, "trainer": {"devices": 2}}, {"data": {"batch_size": 16}}
    current["trainer"] = {"devices": 4}
    assert unsafe_changes(config_changes(saved, current), saved, current) == []  # 64 = 64
    current["trainer"] = {"devices": "auto"}
    assert unsafe_changes(config_changes(saved, current), saved, current) == ["data.batch_size", "trainer.devices"]


def test_a_copied_run_directory_resumes_with_its_best_score_and_last_checkpoint(
    run: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from src.train import train

    path, base = run
    moved = tmp_path / "moved"
    shutil.copytree(path, moved)
    more = [*base, "ckpt_path=last", "trainer.max_epochs=3", "allow_changes=[trainer.max_epochs]"]
    in_place = train(compose_config(more, output_dir=path))
    elsewhere = train(compose_config(more, output_dir=moved))
    assert elsewhere["val/acc_best"] == in_place["val/acc_best"]  # the best of all 3 epochs, not of epoch 3 alone
    assert sorted(p.name for p in (moved / "checkpoints").glob("last*")) == ["last.ckpt"]  # no last-v1.ckpt
    last, here = (
        torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True) for d in (moved, path)
    )
    assert (last["epoch"], last["global_step"]) == (here["epoch"], here["global_step"]) and all(
        str(state.get("best_model_path", "")).startswith(str(moved)) or not state.get("best_model_path")
        for key, state in last["callbacks"].items() if key.startswith("RunCheckpoint")
    )  # fmt: skip
    # a copy without the best checkpoint the run still tracks: refused, naming the file
    partial = tmp_path / "partial"
    (partial / "checkpoints").mkdir(parents=True)
    shutil.copy(path / "checkpoints" / "last.ckpt", partial / "checkpoints" / "last.ckpt")
    (best,) = (path / "checkpoints").glob("best-*.ckpt")
    best.unlink()  # the original is gone too (a move): nothing to fall back on
    with pytest.raises(FileNotFoundError, match=rf"run directory moved .* but {best.name}, which the run still tracks"):
        train(compose_config(more, output_dir=partial))


def test_two_processes_cannot_write_one_run_directory(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); "
         "l.acquire(); open(sys.argv[1] + '.pid', 'w').write(str(os.getpid())); print('held', flush=True); "
         "time.sleep(60)", str(tmp_path / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(KeyError, match=rf"{tmp_path} is being written by another process \(pid {holder.pid}\)"):
            train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr"), output_dir=tmp_path))
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr"), output_dir=tmp_path))  # free again


def test_the_first_config_of_a_run_is_never_overwritten(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """Hydra writes a resumed run's config to .hydra/resume-<n>/: .hydra/config.yaml is what started the run."""
    first = tmp_path / ".hydra" / "config.yaml"
    first.parent.mkdir(parents=True)
    first.write_text("seed: 1  # the first run's config\n")
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr")
    run_cli("train", *overrides, f"hydra.run.dir={tmp_path}")
    assert first.read_text() == "seed: 1  # the first run's config\n"
    assert "model.pretrained" in (tmp_path / ".hydra" / "resume-1" / "overrides.yaml").read_text()
