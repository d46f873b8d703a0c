"""W&B must never block or crash a run: no key / no server -> offline, said in one log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger
from omegaconf import open_dict, read_write

from src.training.wandb_logger import hydra_identity, log_export, run_id, wandb_logger, wandb_mode
from tests.conftest import compose_config


@pytest.fixture
def no_wandb_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.mark.usefixtures("no_wandb_env")
def test_no_credentials_means_offline() -> None:
    mode, why = wandb_mode()
    assert mode == "offline" and "no W&B credentials" in why


@pytest.mark.usefixtures("no_wandb_env")
def test_key_without_server_means_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    mode, why = wandb_mode()
    assert mode == "offline" and "127.0.0.1:9 unreachable" in why


@pytest.mark.usefixtures("no_wandb_env")
def test_netrc_entry_counts_as_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    assert wandb_mode()[1] == "W&B server 127.0.0.1:9 unreachable"  # credentials found, server checked next


def test_explicit_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode()[0] == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode() == ("offline", "WANDB_MODE=offline")


@pytest.mark.usefixtures("no_wandb_env")
def test_logger_falls_back_offline_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        logger = wandb_logger(project="p", save_dir=str(tmp_path), log_model=True)
    assert logger._offline and not logger._log_model  # Lightning cannot upload checkpoints offline: not a crash
    assert logger.upload_export  # the exported model is still logged, as an offline artifact
    messages = [r.getMessage() for r in caplog.records]
    assert any("W&B offline: no W&B credentials" in m and "wandb sync" in m for m in messages)
    assert any("checkpoints are not uploaded" in m for m in messages)


def test_resumed_run_keeps_its_wandb_run_id(tmp_path: Path) -> None:
    first = run_id(str(tmp_path), resume_from=None)
    assert (tmp_path / "wandb_run_id").read_text() == first
    assert run_id(str(tmp_path), resume_from="last") == first  # ckpt_path=last: same W&B run
    assert run_id(str(tmp_path), resume_from=None) != first  # a new run in the same dir: a new W&B run


def test_multirun_jobs_are_grouped_by_sweep(tmp_path: Path) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    cfg = compose_config(["model.optimizer.lr=1e-3"], output_dir=tmp_path)
    assert hydra_identity(None, None, "/x/run-7") == {"name": "run-7", "group": None}  # a single run: no group
    hydra = HydraConfig.get()
    with read_write(hydra), open_dict(hydra):
        hydra.mode = RunMode.MULTIRUN
        hydra.job.num = 3
        hydra.job.name = "train"
        hydra.job.override_dirname = "model.optimizer.lr=1e-3"
        hydra.sweep.dir = str(tmp_path / "2026-01-01_00-00-00")
    expected = {"name": "3: model.optimizer.lr=1e-3", "group": "train-2026-01-01_00-00-00"}
    assert hydra_identity(None, None, "/x/3") == expected
    assert hydra_identity("mine", "g", "/x/3") == {"name": "mine", "group": "g"}
    assert OmegaConf.select(cfg, "logger.wandb.resume_from") is None


def test_log_export_uploads_the_hf_dir(tmp_path: Path) -> None:
    class Experiment:
        id = "abc123"

        def __init__(self) -> None:
            self.logged: list = []

        def log_artifact(self, artifact: object, aliases: list) -> None:
            self.logged.append((artifact, aliases))

    experiment = Experiment()
    logger = WandbLogger(offline=True, save_dir=str(tmp_path), experiment=experiment)
    logger.upload_export = True
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    log_export([logger], tmp_path / "hf", {"test/acc": 0.9})
    artifact, aliases = experiment.logged[0]
    assert artifact.name == "model-abc123" and artifact.type == "model" and aliases == ["best", "latest"]
    assert "config.json" in artifact.manifest.entries and artifact.metadata == {"test/acc": 0.9}
