"""The keys of the `model` group (the backbone, its optimizer and schedule), the same for every task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from src.utils.schema import key

COMPILE_MODES = (False, True, "layers", "model")
ATTENTION = (None, "sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")


def _class_weights(value: Any) -> str | None:
    if value == "balanced" or (isinstance(value, list) and all(isinstance(w, (int, float)) and w > 0 for w in value)):
        return None
    return "not balanced or a list of positive weights"


def _compile(value: Any) -> str | None:
    return None if value in COMPILE_MODES else "not an allowed value"


@dataclass
class EncoderConfig:
    """`model.*`: every backbone (model=bert|distilbert|roberta, or model.pretrained=<any encoder>)."""

    # the optimizer and schedule groups merge over this schema's own null values, hence _self_ first
    defaults: list = key(factory=lambda: ["_self_", {"optimizer": "adamw"}, {"scheduler": "linear"}])
    pretrained: str = key(help="hub id or local dir holding config.json, weights and tokenizer files")
    tokenizer: str | None = key(None, "null = the tokenizer stored with `pretrained`")
    revision: str | None = key(None, "hub branch/tag/commit to pin")
    trust_remote_code: bool = key(
        False,
        "run Python shipped inside a model directory; only the command line can turn it on, never a checkpoint",
        safe=True,
    )
    attn_implementation: str | None = key(
        "sdpa", "PyTorch scaled-dot-product attention (flash/memory-efficient kernels), or eager", choices=ATTENTION
    )
    freeze_backbone: bool = key(False, "true: train only the task head (and BERT's pooler) on a frozen encoder")
    class_weights: Any = key(
        None,
        "null | balanced | [w0, w1, ...]: per-class loss weights for imbalanced labels",
        check=_class_weights,
        allowed="null, balanced or a list of positive weights",
    )
    compile: Any = key(
        False,
        "torch.compile: layers (= true: each transformer block, dynamic shapes, one graph) | model | false",
        check=_compile,
        allowed=f"one of {list(COMPILE_MODES)}",
        safe=True,
    )
    gradient_checkpointing: bool = key(
        False, "recompute activations in backward: less memory, ~30% slower (the same numbers)", safe=True
    )
    optimizer: Any = key(
        None,
        "the optimizer (group model/optimizer; a `_target_` called with parameter groups); "
        "null only for a module that is not trained (eval)",
    )
    scheduler: Any = key(None, "the learning-rate schedule per optimizer step (group model/scheduler); null = constant")


def _betas(value: Any) -> str | None:
    ok = isinstance(value, list) and len(value) == 2 and all(isinstance(b, float) and 0 <= b < 1 for b in value)
    return None if ok else "not two coefficients in [0, 1)"


@dataclass
class AdamWConfig:
    """`model.optimizer.*` of model/optimizer=adamw."""

    _target_: str = key("torch.optim.AdamW", "the optimizer class; biases and LayerNorm weights get no weight decay")
    _partial_: bool = key(True, "built once the parameter groups are known")
    lr: float = key(5e-5, "peak learning rate (after warmup)", gt=0)
    weight_decay: float = key(0.01, "decoupled weight decay (not on biases and LayerNorm weights)", ge=0)
    betas: list[float] = key(
        factory=lambda: [0.9, 0.999],
        help="Adam's running-average coefficients",
        check=_betas,
        allowed="[beta1, beta2], each in [0, 1)",
    )
    eps: float = key(1e-8, "added to the denominator for numerical stability", gt=0)
    foreach: bool | None = key(None, "used only when fused is false: null lets PyTorch pick", safe=True)
    fused: bool | None = key(True, "one fused kernel per step (CPU and CUDA; false on other devices)", safe=True)


@dataclass
class ScheduleConfig:
    """`model.scheduler.*` of model/scheduler=linear|cosine: warmup, then decay, per optimizer step."""

    _target_: str = key("src.models.optim.warmup_schedule", "the schedule factory")
    _partial_: bool = key(True, "built once the optimizer and the number of steps are known")
    name: str = key("linear", "any transformers.get_scheduler name: linear, cosine, constant_with_warmup, ...")
    warmup_ratio: float = key(0.1, "fraction of all optimizer steps spent warming up", ge=0, le=1)
    warmup_steps: int | None = key(None, "a fixed number of warmup steps instead of the ratio", ge=0)


SCHEMAS = {
    "model/_encoder": EncoderConfig,
    "model/optimizer/_adamw": AdamWConfig,
    "model/scheduler/_warmup": ScheduleConfig,
}
