"""RNG state in checkpoints: Lightning restores weights, optimizer and loops but not random number
generators, so dropout masks after a resume would differ from those of an uninterrupted run."""

from __future__ import annotations

import random

import torch


def rng_state() -> dict:
    """Python and torch RNG states as plain containers/tensors (loadable with weights_only=True)."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
