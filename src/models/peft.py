"""LoRA adapters (`model.peft`) with the `peft` library: which layers get them, what else trains, what a
checkpoint must hold, and the merge that makes the exported model a plain Hugging Face model again.

- Adapters go on the query and value projections of the backbone's `model_type` (DEFAULT_TARGETS) unless
  `model.peft.target_modules` names others.
- The task head trains whole: every parameter outside the HF model's `base_model` (BERT's `classifier`,
  DistilBERT's `pre_classifier` + `classifier`, DeBERTa's `pooler` + `classifier`, `qa_outputs`...) and the
  base model's own `pooler` (BERT and RoBERTa multiple choice and BERT sequence classification read its
  output: it is part of the head, as with `model.freeze_backbone`). They keep `requires_grad` rather than
  going through peft's `modules_to_save`, which would keep a second copy of the head and rename its weights.
- The frozen weights are not written to checkpoints: they come back from `model.pretrained` when the module
  is built. `fingerprint` identifies them, so a checkpoint refuses a base whose weights changed.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from src.models.backbone import head_parameters, parameter_counts
from src.models.config import LoraConfig
from src.utils.errors import ConfigError
from src.utils.log import get_logger
from src.utils.schema import build

log = get_logger(__name__)

_BERT_LIKE = ("query", "value")
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "distilbert": ("q_lin", "v_lin"),
    "deberta-v2": ("query_proj", "value_proj"),
}
"""`model_type` -> the layers that get adapters by default: the query and value projections of every attention
block, as in the LoRA paper and peft's own defaults. Adding key and output projections (or the feed-forward
layers) adds capacity but costs speed: on a 2-core CPU, MiniLM-L6 trains 1.49x faster than full fine-tuning
per step with query+value, 1.36x with all four projections, 1.10x with the feed-forward layers too
(docs/benchmarks.md). Names are matched as peft does: the module's name or a dotted suffix of its path."""


def lora_settings(value: Any) -> LoraConfig | None:
    """`model.peft` as typed LoRA settings: null -> None; "lora" -> the group's defaults; a mapping (or a
    LoraConfig) -> checked against the LoRA schema."""
    if value is None:
        return None
    if value == "lora":
        return LoraConfig()
    if isinstance(value, LoraConfig):
        return value
    if isinstance(value, Mapping):
        return build(LoraConfig, dict(value), "model.peft")
    raise ConfigError(f"model.peft={value!r}: use null, lora or the model.peft.* keys. Fix: model/peft=lora.")


def check_combination(settings: Any) -> None:
    """Refuse `model.freeze_backbone` with `model.peft`: both say what trains, and they disagree on the backbone."""
    if settings.peft is not None and settings.freeze_backbone:
        raise ConfigError(
            "model.peft and model.freeze_backbone=true together: LoRA already freezes the backbone and trains its "
            "adapters and the task head; freeze_backbone would train the head alone. Fix: model.freeze_backbone=false "
            "(LoRA) or model.peft=null (head only)."
        )


def linear_names(model: nn.Module) -> list[str]:
    """Short names of the backbone's linear layers (for the error that asks for target_modules)."""
    base = getattr(model, "base_model", model)
    return sorted({n.rsplit(".", 1)[-1] for n, m in base.named_modules() if isinstance(m, nn.Linear)})


def target_modules(model: nn.Module, configured: list[str] | None) -> list[str]:
    """The configured targets, else the default of the model's `model_type`; each must match a layer."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if configured is None and model_type not in DEFAULT_TARGETS:
        raise ConfigError(
            f"model.peft.target_modules=null: no default for model_type {model_type!r} (defaults exist for "
            f"{', '.join(DEFAULT_TARGETS)}). Fix: model.peft.target_modules=[...] naming its attention projections; "
            f"its linear layers are: {', '.join(linear_names(model))}."
        )
    targets = list(configured if configured is not None else DEFAULT_TARGETS[model_type])
    base = getattr(model, "base_model", model)
    names = [n for n, m in base.named_modules() if isinstance(m, nn.Linear)]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing or not targets:
        raise ConfigError(
            f"model.peft.target_modules={targets}: {missing or 'empty'} match(es) no linear layer of the backbone. "
            f"Fix: name some of its linear layers: {', '.join(linear_names(model))}."
        )
    return targets


def apply_lora(model: nn.Module, settings: LoraConfig) -> nn.Module:
    """`model` wrapped by peft with LoRA adapters; only the adapters and the task head require gradients."""
    import peft  # imported here: runs without model.peft do not pay for it

    head = head_parameters(model)
    if not head:
        raise ConfigError(f"model.peft: {type(model).__name__} has no task head outside its base model to train.")
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target_modules(model, settings.target_modules),
        bias="none",
    )
    with warnings.catch_warnings():  # peft reads transformers' deprecated `is_gradient_checkpointing`
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        wrapped = peft.get_peft_model(model, config)
    for param in head.values():
        param.requires_grad = True
    trainable, total = parameter_counts(wrapped)
    log.info("LoRA (r=%d, alpha=%g, dropout=%g) on %s; head trained whole: %s. %s of %s parameters train.",
             settings.r, settings.alpha, settings.dropout, ", ".join(config.target_modules), ", ".join(sorted(
                 {n.rsplit(".", 1)[0] for n in head})), f"{trainable:,}", f"{total:,}")  # fmt: skip
    return wrapped


def frozen_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state-dict entries of a (not yet wrapped) model that LoRA leaves frozen: all but the head's."""
    head = set(head_parameters(model))
    return {k: v for k, v in model.state_dict().items() if k not in head}


def fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    """A hash of named tensors (names, dtypes, shapes and bytes): equal exactly when the weights are equal."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensors[name].shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy())
    return digest.hexdigest()


def trained_keys(module: nn.Module) -> set[str]:
    """State-dict keys of `module` that training changes: every name of every parameter requiring a gradient."""
    return {n for n, p in module.named_parameters(remove_duplicate=False) if p.requires_grad}


def is_wrapped(model: nn.Module) -> bool:
    """Whether `model` is a peft model (adapters not merged yet)."""
    return type(model).__module__.startswith("peft.")


def merged(model: nn.Module) -> nn.Module:
    """The plain Hugging Face model with the adapters folded into its weights (W + alpha / r * B @ A)."""
    return model.merge_and_unload() if is_wrapped(model) else model
