"""Batched predictions of an exported model (`<run>/hf_model`), PyTorch or ONNX, for any registered task.

The task is the one train.py recorded in config.json (`finetune.task`), else the first registered task
whose `matches(config)` accepts the model. This module owns what every task shares: loading, the
backend, the length limits, and `run`: sequences sorted by length, batched with dynamic padding,
logits back in input order. The task turns inputs into sequences and logits into records
(`src/tasks/<task>/predict.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from src.data.batching import PadCollator
from src.data.sequences import special_framing
from src.tasks import task_for_model
from src.utils.errors import ConfigError, LoadError, MissingError
from src.utils.hub import ensure_hub_or_offline, looks_like_hub_id

# position ids start at padding_idx + 1 in these models: two position embeddings are not usable
OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer", "mpnet"}
EMPTY = {"error": "empty text"}
NOT_FINITE = {"error": "the model's output is not finite (NaN or inf): its weights are broken; retrain or re-export"}
Backend = Callable[[dict[str, torch.Tensor]], torch.Tensor]  # batch (input_ids, ...) -> logits


def load_config(model_dir: str) -> PretrainedConfig:
    """The model's config; refuses paths that are not a model directory (or a hub id when online)."""
    if not Path(model_dir).is_dir():
        if not looks_like_hub_id(model_dir):
            raise MissingError(
                f"model_dir={model_dir!r}: no such directory. Fix: pass the hf_model directory a training run "
                "wrote (logs/<task>/train/<run>/hf_model), or a hub id."
            )
        ensure_hub_or_offline()  # an unreachable hub fails in seconds, then the local cache is used
    try:
        return AutoConfig.from_pretrained(model_dir, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise LoadError(
            f"model_dir={model_dir!r}: no loadable config.json ({str(err).splitlines()[0][:200]}). "
            "Fix: pass the hf_model directory a training run wrote (logs/<task>/train/<run>/hf_model)."
        ) from None


def load_model(model_dir: str, auto_class: type) -> PreTrainedModel:
    """The fp32 PyTorch model in eval mode (dropout off); no remote code runs."""
    try:
        model = auto_class.from_pretrained(model_dir, trust_remote_code=False, dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise LoadError(f"model_dir={model_dir!r}: could not load the model weights: {err}") from None
    return model.eval()


def position_limit(config: PretrainedConfig) -> int | None:
    """Longest sequence the position embeddings allow (None: no absolute positions)."""
    positions = getattr(config, "max_position_embeddings", None)
    if not positions:
        return None
    return int(positions) - (2 if config.model_type in OFFSET_POSITIONS else 0)


def resolve_max_length(wanted: int | None, tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig) -> int:
    """`max_length`, or the tokenizer's model_max_length capped by the position embeddings."""
    cap = position_limit(config)
    if wanted is not None:
        if cap is not None and wanted > cap:
            raise ConfigError(f"max_length={wanted} exceeds the model's {cap} positions. Fix: max_length<={cap}.")
        return int(wanted)
    limits = [x for x in (tokenizer.model_max_length, cap) if x and x < 1_000_000]  # tokenizers say 1e30 for "none"
    if not limits:
        raise ConfigError("The model and tokenizer state no maximum length. Fix: max_length=<tokens per sequence>.")
    return int(min(limits))


def resolve_device(device: str) -> str:
    """`device`: auto (cuda when available), cpu or cuda."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"device={device!r}: use auto, cpu or cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but torch sees no CUDA device. Fix: device=auto or device=cpu.")
    return device


class TorchBackend:
    """PyTorch forward pass without autograd: a padded batch -> fp32 logits."""

    def __init__(self, model: PreTrainedModel, device: str) -> None:
        self.model = model.to(device).eval()
        self.device = device

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(**{k: v.to(self.device) for k, v in batch.items()})
        return out.logits.float()


@dataclass
class Settings:
    """How inputs become sequences and batches (the predict config keys of the same names); a task reads
    and checks the keys that concern it (`Task.check_settings`)."""

    batch_size: int = 32
    max_length: int | None = None  # null: tokenizer's model_max_length capped by the position embeddings
    long_text: str = "truncate"  # text classification: truncate | window
    truncation: str = "head"  # long_text=truncate: head | tail | head+tail
    head_tokens: int = 128  # truncation=head+tail: tokens kept from the start
    stride: int = 32  # tokens shared by consecutive windows


class Predictor:
    """An exported model ready to predict: `Predictor(model_dir).predict(["text", ...])`."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        backend: str = "torch",
        device: str = "auto",
        onnx_path: str | Path | None = None,
        threads: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.model_dir = str(model_dir)
        self.config = load_config(self.model_dir)
        self.task = task_for_model(self.config, f"model_dir={self.model_dir!r}")
        self.info: dict[str, Any] = dict(getattr(self.config, "finetune", None) or {})  # what train.py recorded
        self.tokenizer = self.task.load_tokenizer(self.model_dir, key="model_dir")
        self.labels = [self.config.id2label[i] for i in range(self.config.num_labels)]
        self.task.check_model(self.config, self.labels, f"model_dir={self.model_dir!r}")
        self.settings = settings or Settings()
        self.max_length = resolve_max_length(self.settings.max_length, self.tokenizer, self.config)
        self.prefix, self.suffix = special_framing(self.tokenizer)
        self.budget = self.max_length - len(self.prefix) - len(self.suffix)  # text tokens per sequence
        if self.settings.batch_size < 1:
            raise ConfigError(f"batch_size={self.settings.batch_size}: must be >= 1.")
        if self.budget < 2:
            raise ConfigError(f"max_length={self.max_length} leaves {self.budget} tokens besides the special tokens.")
        self.task.check_settings(self.settings, self.budget, self.info)
        self.device = resolve_device(device)
        self.forward = self._backend(backend, onnx_path, threads)
        self.collate = PadCollator(self.tokenizer.pad_token_id)

    def _backend(self, backend: str, onnx_path: str | Path | None, threads: int | None) -> Backend:
        if threads:
            torch.set_num_threads(threads)
        if backend == "torch":
            return TorchBackend(load_model(self.model_dir, self.task.auto_class), self.device)
        if backend != "onnx":
            raise ConfigError(f"backend={backend!r}: use torch or onnx.")
        path = Path(onnx_path) if onnx_path else Path(self.model_dir) / "model.onnx"
        if not path.is_file():
            raise MissingError(
                f"backend=onnx: {path} does not exist. Fix: python src/export.py model_dir={self.model_dir}"
                + (f" output={path}" if onnx_path else "")
                + " (or backend=torch)."
            )
        from src.inference.onnx_export import OnnxSession

        return OnnxSession(path, self.device, threads)

    # ------------------------------------------------------------------ batching
    def run(self, sequences: list[dict[str, list[int]]], owners: list[int], bar: tqdm | None = None) -> list:
        """fp32 logits of every sequence ((C,) or (T, C) cut to its length), longest first in batches, back in
        input order. A sequence is {"input_ids": [...]} (+ "token_type_ids" for pairs); owners[i] is the
        input sequence i belongs to: the progress bar counts inputs whose sequences are all done."""
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]["input_ids"]), reverse=True)
        pending = {t: owners.count(t) for t in set(owners)} if bar is not None else {}
        out: list[torch.Tensor] = [torch.empty(0)] * len(sequences)
        size = self.settings.batch_size
        for begin in range(0, len(order), size):
            rows = order[begin : begin + size]
            logits = self.forward(self.collate([sequences[i] for i in rows])).float().cpu()
            for row, i in enumerate(rows):
                out[i] = logits[row] if logits.dim() == 2 else logits[row, : len(sequences[i]["input_ids"])]
                if bar is not None:
                    pending[owners[i]] -= 1
                    bar.update(int(pending[owners[i]] == 0))
        return out

    # ------------------------------------------------------------------ public
    def predict(self, inputs: Sequence[str | dict[str, Any]], progress: bool = False) -> list[dict]:
        """One record per input ("text" or {"text": ..., "text_pair": ...}), in order. An empty text gets
        {"error": "empty text"}; a record whose numbers are not finite becomes an error record (valid JSON)."""
        rows = [x if isinstance(x, dict) else {"text": x} for x in inputs]
        self.task.check_inputs(rows, self.info)
        keep = [i for i, r in enumerate(rows) if all(isinstance(v, str) and v.strip() for v in r.values())]
        records: list[dict] = [dict(EMPTY) for _ in rows]
        if not keep:
            return records
        with tqdm(total=len(keep), unit="text", disable=not progress, desc="predicting") as bar:
            for i, record in zip(keep, self.task.predict(self, [rows[i] for i in keep], bar), strict=True):
                records[i] = record if finite(record) else dict(NOT_FINITE)
        return records


def finite(value: Any) -> bool:
    """No NaN or inf anywhere in a record (JSON has no such numbers)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite(v) for v in value)
    return True
