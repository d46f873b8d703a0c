"""Loading encoders and their tokenizers from a hub id or a local directory, safely and with clear errors."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from src.utils.errors import LoadError, MissingError
from src.utils.hub import ensure_hub_or_offline, looks_like_hub_id, missing_resource_message
from src.utils.log import get_logger

log = get_logger(__name__)


def _check_source(name: str, key: str) -> None:
    """Local dirs load as they are; hub ids need the hub or the cache (probe first: fail in seconds)."""
    if os.path.isdir(name):
        return
    if not looks_like_hub_id(name) or os.path.exists(name):
        raise MissingError(
            f"{key}={name!r} is neither a directory nor a hub id. Fix: pass a directory holding config.json "
            "and the weights/tokenizer files, or a hub id such as distilbert-base-uncased."
        )
    ensure_hub_or_offline()


def _load_error(err: Exception, name: str, key: str, kind: str) -> OSError:
    if os.path.isdir(name):
        return LoadError(f"{key}={name!r}: could not load a {kind} from this directory: {err}")
    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return MissingError(f"{missing_resource_message(kind.capitalize(), key, name, '/path/to/model_dir')} ({reason})")


def load_tokenizer(
    name: str,
    *,
    trust_remote_code: bool = False,
    revision: str | None = None,
    key: str = "model.tokenizer",
    **kwargs,
) -> PreTrainedTokenizerBase:
    """The backbone's fast tokenizer (slow tokenizers are refused: batched tokenization needs the fast one)."""
    _check_source(name, key)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name, trust_remote_code=trust_remote_code, revision=revision, **kwargs
        )
    except (OSError, ValueError) as err:
        raise _load_error(err, name, key, "tokenizer") from None
    if not getattr(tokenizer, "is_fast", False):
        raise LoadError(f"{key}={name!r} has no fast tokenizer (tokenizer.json); this template needs one.")
    return tokenizer


def load_model(
    auto_class: type,
    name: str,
    *,
    label_names: Sequence[str] | None = None,
    config_dict: dict | None = None,
    config_overrides: dict | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    attn_implementation: str | None = "sdpa",
) -> PreTrainedModel:
    """An ``AutoModelFor*`` with our label names (None: the head's own outputs, e.g. multiple choice) and
    `config_overrides` (e.g. problem_type), in train mode.

    With `config_dict` (stored in our checkpoints) the architecture is built from it and no pretrained
    weights are downloaded: the checkpoint supplies them. `trust_remote_code` comes from the current
    command's config, never from the checkpoint: with False, a config naming custom code (`auto_map`) still
    builds the library's own class for its model_type.
    """
    labels: dict = {}
    if label_names is not None:
        labels = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names))}
        labels["label2id"] = {n: i for i, n in labels["id2label"].items()}
    labels.update(config_overrides or {})
    if config_dict is not None:
        fields = {**config_dict, **labels}
        if not trust_remote_code:
            fields.pop("auto_map", None)  # a checkpoint cannot ask for custom code: the command line must
        config = AutoConfig.for_model(**fields)
        model = auto_class.from_config(
            config, trust_remote_code=trust_remote_code, attn_implementation=attn_implementation
        )
    else:
        _check_source(name, "model.pretrained")
        try:
            model = auto_class.from_pretrained(
                name,
                trust_remote_code=trust_remote_code,
                revision=revision,
                attn_implementation=attn_implementation,
                **labels,
            )
        except (OSError, ValueError) as err:
            raise _load_error(err, name, "model.pretrained", "model") from None
    model.train()  # from_pretrained returns eval mode: dropout would silently be off during training
    return model


def head_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The task head's parameters by name: everything outside `model.base_model`, plus its `pooler` (BERT and
    RoBERTa sequence and multiple-choice heads read its output: it is part of the head). What trains with a frozen
    encoder (`model.freeze_backbone`) or whole beside LoRA adapters (`model.peft`)."""
    base = getattr(model, "base_model", model)
    inside = {id(p) for p in base.parameters()}
    pooler = {id(p) for name, m in base.named_children() if name == "pooler" for p in m.parameters()}
    return {n: p for n, p in model.named_parameters() if id(p) not in inside or id(p) in pooler}


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters of `model`."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def freeze_encoder(model: PreTrainedModel) -> int:
    """Freeze embeddings and transformer layers; the task head (`head_parameters`) trains.

    Returns the number of trainable parameters left.
    """
    head = head_parameters(model)
    for name, param in model.named_parameters():
        param.requires_grad = name in head
    trainable, total = parameter_counts(model)
    log.info("Frozen encoder: %s of %s parameters train (the task head).", f"{trainable:,}", f"{total:,}")
    return trainable
