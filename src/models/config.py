"""The keys of the `model` group (the backbone, its optimizer and schedule), the same for every task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from src.utils.schema import build, key

COMPILE_MODES = (False, True, "layers", "model")
ATTENTION = (None, "sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")


def _class_weights(value: Any) -> str | None:
    if value == "balanced" or (isinstance(value, list) and all(isinstance(w, (int, float)) and w > 0 for w in value)):
        return None
    return "not balanced or a list of positive weights"


def _compile(value: Any) -> str | None:
    return None if value in COMPILE_MODES else "not an allowed value"


def _peft(value: Any) -> str | None:
    """null, "lora" (the group's defaults) or a mapping of LoRA keys, each checked by the LoRA schema (its
    ConfigError names the key and the fix)."""
    if value is None or value == "lora":
        return None
    if not isinstance(value, dict):
        return "not null, lora or a mapping of LoRA keys"
    build(LoraConfig, value, "model.peft")
    return None


def _dropout(value: Any) -> str | None:
    return None if 0 <= value < 1 else "out of range"


@dataclass
class EncoderConfig:
    """`model.*`: every backbone (model=bert|distilbert|roberta, or model.pretrained=<any encoder>)."""

    # the optimizer and schedule groups merge over this schema's own null values, hence _self_ first
    defaults: list = key(
        factory=lambda: ["_self_", {"optimizer": "adamw"}, {"scheduler": "linear"}, {"peft": None}]
    )  # peft: no option by default; model/peft=lora selects configs/model/peft/lora.yaml
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
    freeze_backbone: bool = key(
        False, "true: train only the task head (and BERT's pooler) on a frozen encoder; not with model.peft"
    )
    cache_features: bool = key(
        True,
        "with freeze_backbone: compute the frozen encoder's outputs once per split (cached on disk next to the "
        "tokenized data) and train the head on them; false = run the encoder every step (the same metrics)",
        safe=True,
    )
    peft: Any = key(
        None,
        "parameter-efficient fine-tuning: null = every weight trains; lora (model/peft=lora [model.peft.r=16]) = "
        "LoRA adapters on the attention's query and value projections + the whole task head, the rest frozen",
        check=_peft,
        allowed="null, lora or the model.peft.* keys of LoRA",
    )
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


@dataclass
class LoraConfig:
    """`model.peft.*` of model/peft=lora: low-rank adapters (Hu et al. 2021) trained in place of the backbone."""

    r: int = key(8, "rank of each adapter: the update of a weight W is B @ A with A: r x in, B: out x r", ge=1)
    alpha: float = key(16.0, "scale of the update: B @ A is multiplied by alpha / r", gt=0)
    dropout: float = key(
        0.0,
        "dropout on each adapter's input (training only); on CPU each adapter's mask costs as much as the adapter",
        check=_dropout,
        allowed="a number in [0, 1)",
    )
    target_modules: list[str] | None = key(
        None,
        "names (or dotted suffixes) of the linear layers that get adapters; null = the query and value projections "
        "of the backbone's model_type (bert/roberta/xlm-roberta/electra: query, value; distilbert: q_lin, v_lin; "
        "deberta-v2: query_proj, value_proj); e.g. [query, key, value, attention.output.dense] for all four",
    )


SCHEMAS = {
    "model/_encoder": EncoderConfig,
    "model/optimizer/_adamw": AdamWConfig,
    "model/scheduler/_warmup": ScheduleConfig,
    "model/peft/_lora": LoraConfig,
}
