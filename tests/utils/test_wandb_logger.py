"""W&B must never block or crash a run: no key / no server -> offline, said in one log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from src.utils.wandb_logger import wandb_logger, wandb_mode


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
    assert logger._offline and not logger._log_model  # artifacts need the server: dropped, not a crash
    messages = [r.getMessage() for r in caplog.records]
    assert any("W&B offline: no W&B credentials" in m and "wandb sync" in m for m in messages)
    assert any("log_model ignored" in m for m in messages)
