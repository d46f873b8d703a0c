"""Fault injection: every fault ends in a documented state and nothing is silently lost.

| fault | expected end state |
|---|---|
| weights blow up to NaN | stops at that step (step, lr, last good checkpoint); result.json `failed`; no export |
| SIGTERM / SIGINT during training | last.ckpt at the next step boundary; result.json `interrupted`; exit 128+signal |
| kill -9 mid-step (epoch 3) | ckpt_path=last redoes the lost steps: the uninterrupted run exactly (test_train.py) |
| kill -9 mid-checkpoint | the previous checkpoint is intact (atomic rename); a stray temporary file is ignored |
| truncated last.ckpt | ckpt_path=last falls back to the newest loadable checkpoint (warning); eval names the file |
| disk full while checkpointing | RunFailed naming the path; the previous checkpoint is intact; no temporary file left |
| read-only cache directory | a pre-built cache is used as it is; a missing one fails naming paths.cache_dir |
| model with NaN weights | predict answers an error record (valid JSON), never a NaN score (tests/inference) |
"""

from __future__ import annotations

import csv
import errno
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from src.training.checkpoints import AtomicCheckpointIO, resolve_ckpt_path
from src.utils.errors import RunFailed
from tests.conftest import compose_config, run_cli, tiny_overrides


@pytest.fixture(scope="module")
def trained(tiny: dict, sentiment_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short run with a best and a last checkpoint."""
    from src.train import train

    run = tmp_path_factory.mktemp("trained")
    train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none"), output_dir=run))
    return run


def test_divergence_stops_fails_and_exports_nothing(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train
    from src.training.guard import Diverged

    every_step = "callbacks.last_checkpoint.every_n_train_steps=1"
    poison = ["+callbacks.poison._target_=tests.helpers.PoisonAt", "+callbacks.poison.step=3"]
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", every_step, *poison)
    with pytest.raises(
        Diverged, match=r"diverged at step 4: .*\(learning rate .*\); last good checkpoint: .*\(step 3;"
    ):
        train(compose_config(overrides, output_dir=tmp_path))
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed" and "diverged" in result["error"]
    assert not (tmp_path / "hf_model").exists()
    for ckpt in (tmp_path / "checkpoints").glob("*.ckpt"):  # nothing saved after the divergence holds NaN
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), ckpt


# a real signal from outside, CLI process; the fast suite covers every stage's signal in process (test_stop.py)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_signal_saves_a_resumable_checkpoint_and_exits_nonzero(
    name: str, tiny: dict, sentiment_dir: Path, tmp_path: Path
) -> None:
    base = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=csv", "test=false", "export=false")
    proc = run_cli("train", *base, f"hydra.run.dir={tmp_path}", "+callbacks.sig._target_=tests.helpers.SignalAt",
                   "+callbacks.sig.step=3", f"+callbacks.sig.signal_name={name}", expect_ok=False)  # fmt: skip
    signum = getattr(signal, name)
    assert proc.returncode == 128 + signum, proc.stderr[-2000:]
    assert f"Interrupted: interrupted by signal {signum}" in proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "interrupted" and result["checkpoint"].endswith("last.ckpt")
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 4  # the step in progress finished, then the run stopped

    from src.train import train  # resume: the run finishes, its metrics.csv keeps the interrupted run's rows

    train(compose_config([*base, "ckpt_path=last", "allow_changes=[callbacks.sig.*]"], output_dir=tmp_path))
    with (tmp_path / "csv" / "metrics.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["train/loss_step"]]
    assert steps == list(range(10))  # steps 0-3 of the interrupted run, 4-9 of the resumed one, each once
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "ok"


def _write_slowly(path: str) -> None:
    """A checkpoint write killed half way (the child is SIGKILLed while torch.save runs)."""
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(50_000_000)}}, path)


def test_kill_during_checkpoint_write_keeps_the_previous_one(tmp_path: Path) -> None:
    last = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 7}, last)
    child = multiprocessing.get_context("spawn").Process(target=_write_slowly, args=(str(last),))
    child.start()
    deadline = time.monotonic() + 60
    while not list(last.parent.glob("last.ckpt.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)  # kill -9 while the temporary file is being written
    child.join()
    assert resolve_ckpt_path("last", tmp_path) == str(last)
    assert torch.load(last, weights_only=True)["global_step"] == 7  # the previous checkpoint, whole


def test_truncated_last_checkpoint_falls_back_with_a_warning(trained: Path, tmp_path: Path, caplog) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained / "checkpoints", run / "checkpoints")
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a copy cut short
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    assert resolve_ckpt_path("last", run) == str(best)
    assert any("cannot be loaded" in r.getMessage() and str(best) in r.getMessage() for r in caplog.records)
    from src.eval import evaluate

    with pytest.raises(OSError, match=r"last\.ckpt'.* cannot be loaded .*\(ckpt_path=null\)|cannot be loaded safely"):
        evaluate(compose_config([f"ckpt_path={last}", "logger=none"], "eval", output_dir=tmp_path / "eval"))


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    last = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 1}, last)

    def full(obj: object, f: object) -> None:
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(RunFailed, match=r"Could not write checkpoint .*last\.ckpt: No space left on device\. .*intact"):
        AtomicCheckpointIO().save_checkpoint({"global_step": 2}, last)
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_read_only_cache(tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Simulated (tests may run as root, for whom chmod does not stop writes): taking the lock fails with EROFS."""
    from filelock import FileLock

    from src.tasks.classification.data import ClassificationDataModule
    from tests.conftest import data_config

    def module(cache: Path) -> ClassificationDataModule:
        cfg = data_config("classification", "imdb", path=str(sentiment_dir), max_length=64, num_workers=0)
        return ClassificationDataModule(cfg, tokenizer=str(tiny["bert"]), cache_dir=str(cache))

    module(tmp_path / "built").prepare_data()  # built while writable

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(FileLock, "acquire", read_only)
    dm = module(tmp_path / "built")
    dm.prepare_data()
    dm.setup("fit")  # the pre-built cache is used: no lock needed
    assert len(dm.splits["train"]) == 540
    with pytest.raises(
        OSError, match=r"Cannot write the tokenized-data cache .*Read-only file system.*paths\.cache_dir"
    ):
        module(tmp_path / "empty").prepare_data()


def test_tensorboard_history_survives_a_resume(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """The interrupted run's event file stays; the resumed run adds its own, continuing the step count."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from src.train import train
    from tests.helpers import InterruptedForTest

    base = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=tensorboard", "test=false",
                          "export=false", "callbacks.last_checkpoint.every_n_train_steps=3")  # fmt: skip
    stop = ["+callbacks.record._target_=tests.helpers.LossRecorder", f"+callbacks.record.path={tmp_path}/l.jsonl",
            "+callbacks.record.stop_at_step=3"]  # fmt: skip
    with pytest.raises(InterruptedForTest):
        train(compose_config([*base, *stop], output_dir=tmp_path))
    train(compose_config([*base, "ckpt_path=last", "allow_changes=[callbacks.record.*]"], output_dir=tmp_path))
    files = sorted((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    steps = []
    for f in files:
        events = EventAccumulator(str(f))
        events.Reload()
        steps.append([e.step for e in events.Scalars("train/loss_step")])
    assert len(files) == 2 and steps[0] == [0, 1, 2] and steps[1] == list(range(3, 10))


def test_max_steps_shorter_than_an_epoch_validates_at_the_stop(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """Before: 20 of 34 steps ran, no validation ever did, EarlyStopping raised `val/acc not available` and no
    checkpoint was saved. Now the last step is validated and checkpointed; the run tests and exports it."""
    from src.train import train

    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "logger=none", "trainer.max_steps=3")  # 17 steps an epoch
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert "val/acc_best" in metrics and "test/acc" in metrics and (tmp_path / "hf_model").is_dir()
    (best,) = (tmp_path / "checkpoints").glob("best-*.ckpt")
    assert torch.load(best, map_location="cpu", weights_only=True)["global_step"] == 3
