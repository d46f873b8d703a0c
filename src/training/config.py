"""The keys of the `trainer` group: the Lightning Trainer arguments the template's configs use, typed, and its
own `precision: auto`. A Trainer argument not declared here is refused (add it here to use it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from src.utils.schema import key

PRECISIONS = (
    "auto",
    "32-true",
    "32",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
)


def _precision(value: Any) -> str | None:
    return None if str(value) in PRECISIONS else "not a precision"


def _limit(value: Any) -> str | None:
    """A fraction of the batches (0.0-1.0) or a number of batches."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    return None if (isinstance(value, int) and value >= 0) or 0.0 <= value <= 1.0 else "out of range"


LIMIT = "null, a fraction of the batches (0.0-1.0) or a number of batches"


def _interval(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    return None if (isinstance(value, int) and value >= 1) or 0.0 < value <= 1.0 else "out of range"


@dataclass
class TrainerConfig:
    """`trainer.*`: Lightning Trainer arguments (trainer=default|cpu|gpu|ddp|fsdp|deepspeed; precision=...)."""

    accelerator: str = key("auto", "auto (a GPU if one is visible, else CPU) | cpu | gpu | cuda | mps")
    devices: Any = key(1, "devices per node: a number, a list of indices, or auto (all visible)")
    strategy: Any = key("auto", "auto | ddp | fsdp (a strategy object) | deepspeed_stage_2 ...")
    num_nodes: int = key(1, "machines (DDP/FSDP over all of them)", ge=1)
    sync_batchnorm: bool = key(False, "synchronise BatchNorm statistics across devices")
    precision: Any = key(
        "auto",
        "auto: bf16-mixed on GPUs that support it, 16-mixed on older ones, 32-true on CPU",
        check=_precision,
        allowed=f"one of {list(PRECISIONS)}",
    )
    max_epochs: int = key(3, "epochs to train; -1: no epoch limit (then max_steps or max_time ends the run)", ge=-1)
    max_steps: int = key(
        -1, "> 0 stops after this many optimizer steps (and sizes the LR schedule); -1: no limit", ge=-1
    )
    max_time: Any = key(
        None,
        "a wall-clock limit, DD:HH:MM:SS or {days: .., hours: ..}; the run validates, saves and "
        "stops when it is reached",
    )
    min_epochs: int | None = key(None, "early stopping cannot stop before this many epochs", ge=0)
    gradient_clip_val: float | None = key(1.0, "clip the global gradient norm (null: no clipping)", ge=0)
    gradient_clip_algorithm: str | None = key(None, "norm (default) | value", choices=(None, "norm", "value"))
    accumulate_grad_batches: int = key(1, "batches per optimizer step", ge=1)
    val_check_interval: Any = key(
        1.0,
        "validate every epoch (1.0), at a fraction of it, or every N batches",
        check=_interval,
        allowed="a fraction in (0, 1] or a number of batches >= 1",
    )
    check_val_every_n_epoch: int | None = key(1, "validate every N epochs", ge=1)
    log_every_n_steps: int = key(50, "steps between logged training metrics", ge=1, safe=True)
    num_sanity_val_steps: int = key(
        2, "validation batches run before training (-1: all) to catch bugs early", ge=-1, safe=True
    )
    deterministic: Any = key(
        False,
        "true forces deterministic kernels (slower on GPU; CPU runs are reproducible anyway) | warn",
        check=lambda v: None if v in (True, False, "warn") else "not allowed",
        allowed="true, false or warn",
    )
    benchmark: bool | None = key(None, "cudnn.benchmark (encoders rarely use cuDNN): null = Lightning's choice")
    use_distributed_sampler: bool = key(
        False, "the template's samplers shard by rank (length grouping, exact DDP test metrics): keep false"
    )
    default_root_dir: str = key(
        "${paths.output_dir}", "where Lightning writes when no logger says otherwise", safe=True
    )
    fast_dev_run: Any = key(
        False,
        "true or N: run N (1) batches of each stage, nothing saved (debug=fdr)",
        check=lambda v: None if isinstance(v, (bool, int)) and v >= 0 else "not true/false or N",
        allowed="true, false or a number of batches",
    )
    limit_train_batches: Any = key(
        None, "use only part of each training epoch (debug=limit)", check=_limit, allowed=LIMIT
    )
    limit_val_batches: Any = key(None, "use only part of each validation", check=_limit, allowed=LIMIT)
    limit_test_batches: Any = key(None, "use only part of the test", check=_limit, allowed=LIMIT)
    overfit_batches: Any = key(
        0.0, "train and validate on these few training batches (debug=overfit)", check=_limit, allowed=LIMIT
    )
    enable_progress_bar: bool | None = key(None, "null: Lightning's choice (on in a terminal)", safe=True)
    enable_model_summary: bool | None = key(None, "print the module summary at the start", safe=True)
    detect_anomaly: bool = key(False, "torch.autograd anomaly detection (very slow; to find a NaN's origin)")
    reload_dataloaders_every_n_epochs: int = key(0, "rebuild the dataloaders every N epochs (0: never)", ge=0)


SCHEMAS = {"trainer/_schema": TrainerConfig}
