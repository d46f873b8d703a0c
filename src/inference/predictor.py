"""Batched predictions of an exported model (`<run>/hf_model`), PyTorch or ONNX, for any task.

The caller hands in the model's task (`src.tasks.task_for_model` finds it from config.json; nothing here
imports the task registry). This module owns what every task shares: loading, the backend, the length
limits, the input fields' checks, and `run`: sequences sorted by length, batched with dynamic padding
(any nesting: one sequence per choice too), every named output back in input order, cut to each row's own
extent. The task turns input rows into sequences (`encode`) and raw outputs into records (`decode`: arg-max
labels, entities, answer spans from the start/end logits of every window).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from src.data.batching import PadCollator
from src.data.sequences import TRUNCATION_MODES, special_framing
from src.inference.inputs import Field, check_rows, empty_field
from src.models.io import ModelIO
from src.utils.errors import ConfigError, LoadError, MissingError
from src.utils.hub import ensure_hub_or_offline, looks_like_hub_id
from src.utils.schema import build, key

# position ids start at padding_idx + 1 in these models: two position embeddings are not usable
OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer", "mpnet"}
NOT_FINITE = {"error": "the model's output is not finite (NaN or inf): its weights are broken; retrain or re-export"}
Backend = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]  # batch (input_ids, ...) -> named outputs
Outputs = dict[str, torch.Tensor]  # one sequence's outputs, e.g. {"logits": (C,)} or start/end logits (T,)


@dataclass
class Encoded:
    """What a task's `encode` makes of its input rows: the model's input sequences ({"input_ids": ...},
    + "token_type_ids" for pairs; nested lists for several sequences per example), the row each sequence
    belongs to, and whatever `decode` needs besides the outputs (offsets, word layouts...)."""

    sequences: list[dict[str, Any]]
    owners: list[int]
    state: Any = None


class PredictTask(Protocol):
    """The part of a task (src/tasks/base.py `Task`) the predictor calls."""

    name: str
    auto_class: type

    def model_io(self, info: dict) -> ModelIO: ...
    def fields(self, info: dict) -> list[Field]: ...
    def load_tokenizer(self, source: str, key: str) -> PreTrainedTokenizerBase: ...
    def check_model(self, config: PretrainedConfig, labels: list[str], where: str) -> None: ...
    def check_settings(self, settings: Settings, budget: int, info: dict) -> None: ...
    def encode(self, predictor: Predictor, rows: list[dict[str, Any]]) -> Encoded: ...
    def decode(self, predictor: Predictor, rows: list[dict[str, Any]], encoded: Encoded, outputs: list) -> list: ...


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
    """PyTorch forward pass without autograd: a padded batch -> the named fp32 outputs."""

    def __init__(self, model: PreTrainedModel, device: str, outputs: Sequence[str] = ("logits",)) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.outputs = tuple(outputs)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.inference_mode():
            out = self.model(**{k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)})
        return {name: out[name].float() for name in self.outputs}


@dataclass
class Settings:
    """How inputs become sequences and batches: the predict config keys of the same names, declared here. A task
    reads and checks the keys that concern it (`Task.check_settings`)."""

    batch_size: int = key(32, "sequences per forward pass; inputs are sorted by length, so padding stays small", ge=1)
    max_length: int | None = key(None, "tokens per sequence, special tokens included; null = the tokenizer's limit "
                                 "capped by the model's positions", ge=1)  # fmt: skip
    long_text: str = key("truncate", "text classification: truncate (read max_length tokens) | window (average the "
                         "windows' probabilities)", choices=("truncate", "window"))  # fmt: skip
    truncation: str = key("head", "long_text=truncate: the part of a long text that is read",
                          choices=TRUNCATION_MODES)  # fmt: skip
    head_tokens: int = key(128, "truncation=head+tail: tokens kept from the start, the rest from the end", ge=1)
    stride: int = key(32, "tokens shared by consecutive windows (long_text=window, word tagging)", ge=0)


class Predictor:
    """An exported model ready to predict: `Predictor(model_dir, task).predict([{"text": ...}, ...])`.

    `task` is the model's task (`src.tasks.task_for_model(load_config(model_dir), ...)`, or `src.tasks.
    load_predictor(model_dir)` which does both); `config` saves reading config.json twice.
    """

    def __init__(
        self,
        model_dir: str | Path,
        task: PredictTask,
        *,
        config: PretrainedConfig | None = None,
        backend: str = "torch",
        device: str = "auto",
        onnx_path: str | Path | None = None,
        threads: int | None = None,
        settings: Settings | None = None,
        quantized: bool = False,
    ) -> None:
        self.model_dir = str(model_dir)
        self.config = config or load_config(self.model_dir)
        self.task = task
        self.info: dict[str, Any] = dict(getattr(self.config, "finetune", None) or {})  # what train.py recorded
        self.io = task.model_io(self.info)
        self.fields = task.fields(self.info)
        self.tokenizer = task.load_tokenizer(self.model_dir, key="model_dir")
        self.labels = [self.config.id2label[i] for i in range(self.config.num_labels)]
        task.check_model(self.config, self.labels, f"model_dir={self.model_dir!r}")
        self.settings = build(Settings, settings or Settings(), "")  # the keys' ranges and choices, as predict.py's
        self.max_length = resolve_max_length(self.settings.max_length, self.tokenizer, self.config)
        self.prefix, self.suffix = special_framing(self.tokenizer)
        self.budget = self.max_length - len(self.prefix) - len(self.suffix)  # text tokens per sequence
        if self.settings.batch_size < 1:
            raise ConfigError(f"batch_size={self.settings.batch_size}: must be >= 1.")
        if self.budget < 2:
            raise ConfigError(f"max_length={self.max_length} leaves {self.budget} tokens besides the special tokens.")
        task.check_settings(self.settings, self.budget, self.info)
        self.device = resolve_device(device)
        # which model runs: its file (the model dir for PyTorch) and precision (fp32, or int8 for a quantized ONNX)
        self.model_file, self.precision = Path(self.model_dir), "fp32"
        self.forward = self._backend(backend, onnx_path, threads, quantized)
        self.collate = PadCollator(self.tokenizer.pad_token_id)

    def _backend(self, backend: str, onnx_path: str | Path | None, threads: int | None, quantized: bool) -> Backend:
        if threads:
            torch.set_num_threads(threads)
        if backend not in ("torch", "onnx"):
            raise ConfigError(f"backend={backend!r}: use torch or onnx.")
        if quantized and backend != "onnx":
            raise ConfigError("quantized=true runs the int8 ONNX model (onnxruntime). Fix: add backend=onnx.")
        if backend == "torch":
            return TorchBackend(load_model(self.model_dir, self.task.auto_class), self.device, list(self.io.outputs))
        from src.inference.onnx_export import OnnxSession

        session = OnnxSession(self._onnx_file(onnx_path, quantized), self.device, threads)
        if quantized and session.precision != "int8":
            raise ConfigError(
                f"quantized=true: {session.path} is a {session.precision} model, not one written by src/export.py "
                "quantize=int8. Fix: onnx_path=<its .int8.onnx file>, or quantized=false."
            )
        self.model_file, self.precision = session.path, session.precision
        return session

    def _onnx_file(self, onnx_path: str | Path | None, quantized: bool) -> Path:
        """`onnx_path`, else <model_dir>/model.onnx (model.int8.onnx when quantized); a missing one says how to
        make it."""
        name = "model.int8.onnx" if quantized else "model.onnx"
        path = Path(onnx_path) if onnx_path else Path(self.model_dir) / name
        if path.is_file():
            return path
        output = f" output={path.with_name(path.name.replace('.int8.onnx', '.onnx'))}" if onnx_path else ""
        flag, where = (" quantize=int8", "backend=onnx quantized=false") if quantized else ("", "backend=torch")
        raise MissingError(
            f"backend=onnx{' quantized=true' if quantized else ''}: {path} does not exist. "
            f"Fix: python src/export.py model_dir={self.model_dir}{output}{flag} (or {where})."
        )

    # ------------------------------------------------------------------ batching
    def run(self, sequences: list[dict[str, Any]], owners: list[int], bar: tqdm | None = None) -> list[Outputs]:
        """Every named fp32 output of every sequence, cut to the sequence's own extent (a label vector (C,),
        token logits (T, C), start/end logits (T,), choice scores (choices,)), in input order; batches are
        sorted longest first. A sequence is {"input_ids": [...]} (+ "token_type_ids" for pairs), the ids
        nested when the model reads several sequences per example; owners[i] is the input row sequence i
        belongs to: the progress bar counts rows whose sequences are all done."""
        extents = [self.io.extents(s["input_ids"]) for s in sequences]
        order = sorted(range(len(sequences)), key=lambda i: tuple(reversed(extents[i].values())), reverse=True)
        pending = {t: owners.count(t) for t in set(owners)} if bar is not None else {}
        out: list[Outputs] = [{} for _ in sequences]
        size = self.settings.batch_size
        for begin in range(0, len(order), size):
            rows = order[begin : begin + size]
            batch = self.forward(self.collate([sequences[i] for i in rows]))
            for row, i in enumerate(rows):
                out[i] = {
                    name: self.io.cut(value[row].float().cpu(), self.io.outputs[name], extents[i])
                    for name, value in batch.items()
                }
                if bar is not None:
                    pending[owners[i]] -= 1
                    bar.update(int(pending[owners[i]] == 0))
        return out

    # ------------------------------------------------------------------ public
    def predict(self, inputs: Sequence[str | dict[str, Any]], progress: bool = False) -> list[dict]:
        """One record per input, in order. An input is a dict of the task's fields ({"text": ...}, {"text": ...,
        "text_pair": ...}, {"question": ..., "choices": [...]}...), or a plain string for the first one. An empty
        text gets {"error": "empty <field>"}; a record whose numbers are not finite becomes an error record
        (valid JSON)."""
        rows = [x if isinstance(x, dict) else {self.fields[0].name: x} for x in inputs]
        check_rows(rows, self.fields, self.task.name)
        records: list[dict] = [{} for _ in rows]
        keep = []
        for i, row in enumerate(rows):
            if (name := empty_field(row, self.fields)) is not None:
                records[i] = {"error": f"empty {name}"}
            else:
                keep.append(i)
        if not keep:
            return records
        kept = [rows[i] for i in keep]
        with tqdm(total=len(keep), unit="input", disable=not progress, desc="predicting") as bar:
            encoded = self.task.encode(self, kept)
            outputs = self.run(encoded.sequences, encoded.owners, bar)
            for i, record in zip(keep, self.task.decode(self, kept, encoded, outputs), strict=True):
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
