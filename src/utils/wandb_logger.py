"""A W&B logger that never blocks or crashes a run.

W&B without credentials raises (no TTY) or waits at a login prompt (TTY); with a key but no route to
the server it hangs. `wandb_logger` decides up front: no key or no server -> offline mode, said in
one log line, with the `wandb sync` command that uploads the run later.
"""

from __future__ import annotations

import netrc
import os
import socket
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

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


def wandb_logger(offline: bool = False, init_timeout: float = 60.0, **kwargs) -> WandbLogger:
    """A WandbLogger that falls back to offline mode instead of blocking; extra kwargs go to WandbLogger."""
    import wandb

    mode, why = wandb_mode(offline)
    settings = wandb.Settings(init_timeout=init_timeout, silent=True)
    if mode == "disabled":  # WANDB_MODE=disabled: wandb itself turns the run into a no-op
        return WandbLogger(settings=settings, **kwargs)
    if mode == "offline":
        return _offline_logger(why, settings, kwargs)
    logger = WandbLogger(settings=settings, **kwargs)
    try:
        _ = logger.experiment  # start the run now: a rejected key fails here, not mid-training
    except Exception as err:  # wandb raises several types (CommError, UsageError, timeouts)
        wandb.finish()
        logger = _offline_logger(f"online init failed ({err})", settings, kwargs)
    return logger


def _offline_logger(why: str, settings: object, kwargs: dict) -> WandbLogger:
    save_dir = kwargs.get("save_dir") or "."
    log.warning("W&B offline: %s. Upload later with `wandb sync %s/wandb/offline-run-*`.", why, save_dir)
    if kwargs.get("log_model"):
        log.warning("W&B offline: logger.wandb.log_model ignored (artifacts need the server); checkpoints stay local.")
    return WandbLogger(offline=True, settings=settings, **{**kwargs, "log_model": False})
