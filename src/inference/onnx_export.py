"""ONNX export of an exported model (any task's head), the parity check that guards it, and an onnxruntime session.

The graph's inputs and outputs come from the task's `ModelIO` (src/models/io.py): `input_ids`,
`attention_mask` (and `token_type_ids` for pairs) with the task's input axes, all dynamic and named
(`batch`, `sequence`, `choice`...), and the head's named outputs (`logits`, or `start_logits` and
`end_logits`), their axes named alike.

Exporter: `torch.onnx.export(..., dynamo=True)` (torch.export + onnxscript). The legacy TorchScript
exporter (`dynamo=False`) still runs under torch 2.13 but is wrong for transformers 5 encoders: the
attention-mask code is traced with the example's shapes baked in, and on other batch/sequence sizes
its logits differ from PyTorch's by up to 0.4 (measured on MiniLM, eager and sdpa attention alike).
The dynamo export matches to ~1e-6. Every export is checked against PyTorch before it is kept.

Attention is exported as the plain ("eager") matmul-softmax-matmul: torch decomposes SDPA at opset 18 with a
NaN guard (IsNaN + Where over every batch x heads x T x T score tensor) that took 15-22% of onnxruntime's
time on MiniLM at 32 x 256 tokens; the eager graph computes the same outputs ~1.3x faster.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel

from src.models.io import ModelIO
from src.utils.errors import ConfigError, MissingError
from src.utils.log import get_logger

log = get_logger(__name__)
PROTOBUF_LIMIT = 2**31 - 1  # bytes: larger models keep their weights in <file>.data next to the .onnx
PRECISION_KEY = "precision"  # ONNX metadata entry: "int8" in files src/inference/quantize.py writes (absent: fp32)


def _require(module: str) -> None:
    """Fail with the install command instead of an ImportError deep inside torch.onnx."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingError(f"{module} is not installed. Fix: pip install -e '.[onnx]' (onnx, onnxruntime, onnxscript).")


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Hide the exporter's per-pass INFO lines and per-op warnings (hundreds of lines); errors still raise."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class NamedOutputs(torch.nn.Module):
    """input_ids, attention_mask (, token_type_ids) -> the head's named outputs: the whole contract of the graph."""

    def __init__(self, model: PreTrainedModel, outputs: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.outputs = model, outputs

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        return tuple(out[name] for name in self.outputs)


# example sizes per axis: distinct, and never 0 or 1, which torch.export would specialise
EXAMPLE_SIZES = {"batch": 2, "choice": 3, "sequence": 16}


def example_inputs(io: ModelIO, inputs: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """One example batch of the graph's inputs (two segments in token_type_ids)."""
    shape = tuple(EXAMPLE_SIZES.get(axis, 4) for axis in io.input_axes)
    length = shape[-1]
    example = {
        "input_ids": torch.full(shape, 5, dtype=torch.long),
        "attention_mask": torch.ones(shape, dtype=torch.long),
        "token_type_ids": (torch.arange(length) >= length // 2).long().expand(shape).contiguous(),
    }
    return {name: example[name] for name in inputs}


def export_onnx(
    model: PreTrainedModel, path: str | Path, io: ModelIO, inputs: tuple[str, ...], opset: int = 18
) -> Path:
    """Write `model` (fp32, eval mode, eager attention: it is switched in place) as ONNX, every input axis dynamic
    and named after `io`'s axes."""
    for module in ("onnx", "onnxscript"):
        _require(module)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().eval().cpu()
    eager_attention(model)
    dims = {axis: torch.export.Dim(axis) for axis in io.input_axes}
    example = example_inputs(io, inputs)
    with quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            NamedOutputs(model, tuple(io.outputs)),
            tuple(example.values()),
            dynamo=True,
            input_names=list(inputs),
            output_names=list(io.outputs),
            opset_version=opset,
            dynamic_shapes={name: {d: dims[axis] for d, axis in enumerate(io.input_axes)} for name in inputs},
            verbose=False,
        )
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    program.save(str(path), external_data=size > PROTOBUF_LIMIT)
    return path


def eager_attention(model: PreTrainedModel) -> None:
    """Switch the model to the plain attention implementation (same outputs) for export; see the module docstring.
    A model that has no such implementation keeps its own."""
    if getattr(model.config, "_attn_implementation", "eager") == "eager":
        return
    try:
        model.set_attn_implementation("eager")
    except (ValueError, ImportError) as err:
        log.info("Exporting %s attention (no eager attention: %s).", model.config._attn_implementation, err)


def graph_axes(path: str | Path) -> dict[str, list[str | int]]:
    """Every input and output of an ONNX file with its axes: names for dynamic ones, sizes for fixed ones."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in [*graph.input, *graph.output]
    }


PARITY_SIZES = ({"batch": 1, "choice": 2, "sequence": 7}, {"batch": 4, "choice": 5, "sequence": 61}, {"batch": 2})


def parity_batches(
    vocab_size: int, max_length: int, io: ModelIO, inputs: tuple[str, ...], seed: int = 0
) -> list[dict[str, torch.Tensor]]:
    """Random-token batches of several shapes up to `max_length` tokens, with padding at the end of every row
    but the first (and two segments for pair models): what predict will feed."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for sizes in PARITY_SIZES:
        length = min(sizes.get("sequence", max_length), max_length)
        shape = tuple(sizes.get(axis, 3) if axis != "sequence" else length for axis in io.input_axes)
        ids = torch.randint(0, vocab_size, shape, generator=g)
        mask = torch.ones_like(ids).reshape(-1, length)
        rows = mask.shape[0]
        for r in range(1, rows):  # every row but the first is padded: masking is part of the check
            mask[r, length - length * r // (rows + 1) :] = 0
        batch = {"input_ids": ids, "attention_mask": mask.reshape(shape)}
        if "token_type_ids" in inputs:
            batch["token_type_ids"] = (torch.arange(length) >= length // 2).long().expand(shape).contiguous()
        batches.append(batch)
    return batches


def max_output_diff(
    model: PreTrainedModel, session: OnnxSession, batches: list[dict[str, torch.Tensor]], io: ModelIO
) -> float:
    """Largest |PyTorch - onnxruntime| over every output, at the positions of real (unpadded) inputs."""
    worst = 0.0
    for batch in batches:
        with torch.inference_mode():
            expected = model(**batch)
        got = session(batch)
        for name, axes in io.outputs.items():
            diff = (expected[name].float() - got[name]).abs()
            worst = max(worst, float(diff[io.valid(batch["attention_mask"], axes)].max()))
    return worst


class OnnxSession:
    """onnxruntime session with the PyTorch backend's call signature: a batch -> the named fp32 outputs."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        _require("onnxruntime")
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(
                    "backend=onnx device=cuda: this onnxruntime has no CUDA provider. "
                    "Fix: pip install onnxruntime-gpu, or device=cpu."
                )
            providers.insert(0, "CUDAExecutionProvider")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.precision = self.session.get_modelmeta().custom_metadata_map.get(PRECISION_KEY, "fp32")  # said by predict

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The PyTorch backend's contract: a padded batch -> fp32 outputs by name. A batch without padding comes
        without attention_mask (see PadCollator); the graph gets ones, and zeros for absent token types."""
        ids = batch["input_ids"]
        defaults = {"attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
        feed = {name: batch.get(name, defaults.get(name)).cpu().numpy() for name in self.inputs}
        values = self.session.run(self.outputs, feed)
        return {
            name: torch.from_numpy(np.asarray(v, dtype=np.float32))
            for name, v in zip(self.outputs, values, strict=True)
        }
