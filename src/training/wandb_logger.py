"""A W&B logger that never blocks or crashes a run.

W&B without credentials raises (no TTY) or waits at a login prompt (TTY); with a key but no route to
the server it hangs. `wandb_logger` decides up front: no key or no server -> offline mode, said in
one log line, with the `wandb sync` command that uploads the run later.
"""

from __future__ import annotations

import netrc
import os
import secrets
import socket
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from src.utils.log import get_logger

log = get_logger(__name__)


def _wandb_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    return url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)


def _has_wandb_credentials(host: str) -> bool:
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wandb_mode(offline: bool = False) -> tuple[str, str]:
    """('online' | 'offline' | 'disabled', why)."""
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("offline", "dryrun", "disabled"):
        return ("disabled" if env == "disabled" else "offline"), f"WANDB_MODE={env}"
    if offline:
        return "offline", "logger.wandb.offline=true"
    host, port = _wandb_host()
    if not _has_wandb_credentials(host):
        return "offline", "no W&B credentials (run `wandb login` or set WANDB_API_KEY)"
    if not _reachable(host, port):
        return "offline", f"W&B server {host}:{port} unreachable"
    return "online", "credentials found and server reachable"


def hydra_identity(name: str | None, group: str | None, run_dir: str) -> dict[str, str | None]:
    """Run name and group: a multirun's jobs share a group (the sweep) and are named by their overrides;
    a single run is named after its run directory."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        hydra = HydraConfig.get()
        job = f"{hydra.job.num}: {hydra.job.override_dirname}" if hydra.job.override_dirname else str(hydra.job.num)
        return {"name": name or job, "group": group or f"{hydra.job.name}-{Path(hydra.sweep.dir).name}"}
    return {"name": name or Path(run_dir).name, "group": group}


def run_id(save_dir: str, resume_from: str | None) -> str:
    """The W&B run id: the interrupted run's one when resuming from a checkpoint in the same run dir, else new.

    Stored in <save_dir>/wandb_run_id, so `ckpt_path=last` continues the same W&B run (online or offline).
    """
    path = Path(save_dir) / "wandb_run_id"
    if resume_from and path.exists():
        previous = path.read_text().strip()
        log.info("W&B: continuing run %s (resuming from %s).", previous, resume_from)
        return previous
    new = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))  # W&B's id format
    if rank_zero_only.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new)
    return new


def wandb_logger(
    offline: bool = False,
    init_timeout: float = 60.0,
    resume_from: str | None = None,
    save_dir: str = ".",
    name: str | None = None,
    group: str | None = None,
    log_model: bool | str = False,
    **kwargs: Any,
) -> WandbLogger:
    """A WandbLogger that falls back to offline mode instead of blocking (extra kwargs go to WandbLogger).

    `resume_from` (the run's ckpt_path) continues the same W&B run; `log_model` also uploads the exported
    Hugging Face model at the end of train.py (see log_export), offline runs included (synced later).
    """
    import wandb

    mode, why = wandb_mode(offline)
    settings = wandb.Settings(init_timeout=init_timeout, silent=True)
    identity = hydra_identity(name, group, save_dir)
    kwargs = {**kwargs, **identity, "save_dir": save_dir, "id": run_id(save_dir, resume_from)}
    if mode == "disabled":  # WANDB_MODE=disabled: wandb itself turns the run into a no-op
        return WandbLogger(settings=settings, **kwargs)
    if mode == "offline":
        return _offline_logger(why, settings, kwargs, log_model)
    logger = WandbLogger(settings=settings, log_model=log_model, **kwargs)
    try:
        _ = logger.experiment  # start the run now: a rejected key fails here, not mid-training
    except Exception as err:  # wandb raises several types (CommError, UsageError, timeouts)
        wandb.finish()
        return _offline_logger(f"online init failed ({err})", settings, kwargs, log_model)
    logger.upload_export = bool(log_model)
    return logger


def _offline_logger(why: str, settings: object, kwargs: dict, log_model: bool | str) -> WandbLogger:
    log.warning("W&B offline: %s. Upload later with `wandb sync %s/wandb/offline-run-*`.", why, kwargs["save_dir"])
    if log_model:
        log.warning("W&B offline: checkpoints are not uploaded; the exported model is logged as an offline artifact.")
    logger = WandbLogger(offline=True, settings=settings, log_model=False, **kwargs)
    logger.upload_export = bool(log_model)
    return logger


def log_export(loggers: list, export_dir: Path, metadata: dict) -> None:
    """Log the exported Hugging Face model directory as a W&B model artifact (aliases best, latest)."""
    import wandb

    for logger in loggers:
        if isinstance(logger, WandbLogger) and getattr(logger, "upload_export", False):
            artifact = wandb.Artifact(f"model-{logger.experiment.id}", type="model", metadata=metadata)
            artifact.add_dir(str(export_dir))
            logger.experiment.log_artifact(artifact, aliases=["best", "latest"])
            log.info("W&B: logged %s as artifact model-%s.", export_dir, logger.experiment.id)
