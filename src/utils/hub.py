"""Hugging Face Hub access that fails in seconds, not minutes, when the hub cannot be reached.

Without ``HF_HUB_OFFLINE=1``, ``from_pretrained``/``load_dataset`` retry for 20-50 s before giving up
on a machine without network. We probe the hub once (a TCP connect with a short timeout) and, when it
is unreachable, switch the libraries to their local cache for the rest of the process.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from src.utils.log import get_logger

log = get_logger(__name__)

# owner/name or name, as the hub spells repository ids
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DATA_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt", ".conll"}


def looks_like_hub_id(value: str) -> bool:
    """True for ``distilbert-base-uncased`` or ``stanfordnlp/imdb``; False for anything path-like."""
    if value.startswith((".", "/", "~")) or value.count("/") > 1:
        return False
    return bool(_HUB_ID.match(value)) and Path(value).suffix.lower() not in _DATA_SUFFIXES


def offline_mode() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


@functools.cache
def _hub_reachable(timeout: float = 3.0) -> bool:
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"

    def connect() -> bool:
        with socket.create_connection((host, 443), timeout=timeout):
            return True

    # getaddrinfo has no timeout of its own: run the probe in a thread and stop waiting after `timeout`.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=timeout + 0.5)
    except Exception:
        return False
    finally:
        pool.shutdown(wait=False)


def ensure_hub_or_offline() -> bool:
    """Return True if the hub may be used; otherwise switch HF libraries to offline mode and return False."""
    if offline_mode():
        return False
    if _hub_reachable():
        return True
    import datasets
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"  # for child processes (DDP ranks, dataloader workers)
    log.warning(
        "Hugging Face Hub is unreachable: using the local cache only (set HF_HUB_OFFLINE=1 to skip this check)."
    )
    return False


def missing_resource_message(kind: str, key: str, value: str, local_example: str) -> str:
    """The one error text for a hub id that is neither a local path nor in the cache."""
    return (
        f"{kind} {key}={value!r} is not a local path and could not be loaded from the Hugging Face Hub "
        f"({'offline mode' if offline_mode() else 'download failed'}). Fix: pass {key}=<local dir> "
        f"(e.g. {key}={local_example}), or run once with network access so it is cached."
    )
