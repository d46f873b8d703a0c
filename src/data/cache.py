"""On-disk cache of tokenized datasets.

The key hashes everything that changes the token ids: the data's identity, the tokenizer's full
definition (vocabulary, normalizer, special tokens), max_length, truncation side and the split/label
options. Switching backbone therefore never reuses another tokenizer's ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock
from transformers import PreTrainedTokenizerBase

from src.utils.errors import LoadError

CACHE_FORMAT = 2  # bump when the layout of cached datasets changes


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of the tokenizer's complete definition (not its name: two dirs may hold different vocabularies)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise LoadError(f"{type(tokenizer).__name__} is not a fast tokenizer; this template needs one.")
    definition = json.loads(backend.to_str())
    # truncation/padding are call-time settings the backend remembers; they do not change ids
    definition.pop("truncation", None)
    definition.pop("padding", None)
    extra = {
        "class": type(tokenizer).__name__,
        "special": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        "padding_side": tokenizer.padding_side,
        "add_prefix_space": getattr(tokenizer, "add_prefix_space", None),
    }
    blob = json.dumps([definition, extra], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def cache_key(parts: dict) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@contextlib.contextmanager
def build_once(target: Path) -> Iterator[Path | None]:
    """Yield a temporary dir to fill, or None if `target` already exists; the filled dir is renamed into place.

    A file lock makes concurrent processes (DDP ranks, sweep jobs) wait for the first builder. A finished
    cache needs no lock (it only appears by an atomic rename), so a pre-built cache on a read-only file
    system is used as it is.
    """
    if target.exists():
        yield None
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(target) + ".lock")
        lock.acquire()
    except OSError as err:
        raise LoadError(
            f"Cannot write the tokenized-data cache in {target.parent} ({err.strerror or err}). "
            "Fix: point paths.cache_dir (or ENCODER_FT_CACHE) to a writable directory."
        ) from None
    try:
        if target.exists():
            yield None
            return
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            yield tmp
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        lock.release()
