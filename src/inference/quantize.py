"""int8 ONNX models for CPU inference: dynamic quantization of an exported fp32 graph, and the pieces that
compare the int8 model with the fp32 one on a task's own validation metrics.

Recipe (measured on MiniLM-L6 graphs of torch's dynamo exporter, onnxruntime 1.32; docs/inference.md):

- onnxruntime's transformer optimizer first fuses what it recognises in a BERT-style graph (SkipLayerNormalization,
  BiasGelu); quantizing the fused graph keeps those kernels, which run ~15% faster than the unfused ops.
  `quant_pre_process` is not used: its symbolic shape inference fails on these graphs ("unsupported broadcast
  between Min(512, sequence) sequence"), and the dynamo exporter already records the value shapes quantization
  needs.
- `quantize_dynamic`: MatMul and Gemm weights as int8, symmetric, one scale per output channel (per-tensor
  scales doubled the largest logit error); activations are quantized to uint8 per batch at run time
  (onnxruntime fuses that into DynamicQuantizeMatMul / MatMulIntegerToFloat). The attention products
  (activation x activation), LayerNorm, softmax and the embeddings stay fp32. Full 8-bit range (no
  `reduce_range`): right for CPUs with AVX512-VNNI/AMX; on older AVX2-only CPUs the u8 x s8 products can
  saturate.

The file records `precision: int8` in its metadata, so whoever runs it can say which model ran.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from transformers.utils import ModelOutput

from src.inference.onnx_export import PRECISION_KEY, PROTOBUF_LIMIT, OnnxSession, quiet_exporter
from src.utils.log import get_logger

log = get_logger(__name__)
QUANTIZED_OPS = ("MatMul", "Gemm")


def int8_path(fp32_path: str | Path) -> Path:
    """Where the int8 model of `fp32_path` goes: `<stem>.int8.onnx` beside it (model.onnx -> model.int8.onnx)."""
    path = Path(fp32_path)
    return path.with_name(f"{path.stem}.int8.onnx")


def fused_graph(fp32_path: Path, scratch: Path) -> Path:
    """The graph with onnxruntime's transformer fusions (LayerNorm, GELU) applied; the input as-is when the
    optimizer fails on it (another architecture's pattern): quantization does not need the fusions."""
    from onnxruntime.transformers.optimizer import optimize_model

    out = scratch / "fused.onnx"
    try:
        with quiet_quantizer():
            model = optimize_model(str(fp32_path), model_type="bert")
            model.save_model_to_file(str(out), use_external_data_format=_large(fp32_path))
    except Exception as err:  # a fusion pass that does not fit this graph is not an error
        log.warning("onnxruntime's transformer optimizer failed on %s (%s); quantizing the unfused graph.",
                    fp32_path, str(err).splitlines()[0][:200])  # fmt: skip
        return fp32_path
    return out


def quantize_int8(fp32_path: str | Path, out: str | Path | None = None) -> Path:
    """Write the dynamically quantized int8 model of the fp32 ONNX file (see the module docstring for the recipe);
    returns its path (default: `int8_path(fp32_path)`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path = Path(fp32_path)
    out = Path(out) if out else int8_path(fp32_path)
    with tempfile.TemporaryDirectory() as scratch, quiet_quantizer():
        quantize_dynamic(
            fused_graph(fp32_path, Path(scratch)),
            out,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            weight_type=QuantType.QInt8,
            use_external_data_format=_large(fp32_path),
        )
    model = onnx.load(str(out), load_external_data=False)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, PRECISION_KEY: "int8"})
    onnx.save(model, str(out))
    return out


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """The optimizer's and quantizer's progress lines and their advice to pre-process (root-logger warnings)
    hidden; errors still raise."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with quiet_exporter():
            yield
    finally:
        root.setLevel(level)


def _large(path: Path) -> bool:
    """Weights kept in external data files (models past protobuf's 2 GiB)."""
    return path.stat().st_size > PROTOBUF_LIMIT or bool(glob.glob(f"{path}.data"))


class OnnxModel(torch.nn.Module):
    """An ONNX model in a LightningModule's `model` slot: the Hugging Face call signature (input_ids,
    attention_mask, token_type_ids) -> a ModelOutput of the graph's named outputs, so a task's metric code
    (`self(batch).logits`, `.start_logits`) scores the ONNX model unchanged."""

    def __init__(self, session: OnnxSession) -> None:
        super().__init__()
        self.session = session

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        given = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
        batch = {"input_ids": input_ids, **{k: v for k, v in given.items() if v is not None}}
        return ModelOutput(**{k: v.to(input_ids.device) for k, v in self.session(batch).items()})


def find_checkpoint(ckpt_path: str | None, model_dir: str | Path) -> Path | None:
    """`ckpt_path`, or the run's own: <model_dir>/../checkpoints/best-*.ckpt (the newest), else last.ckpt; None
    when there is none."""
    if ckpt_path:
        return Path(ckpt_path)
    folder = Path(model_dir).resolve().parent / "checkpoints"
    best = sorted(folder.glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
    if best:
        return best[-1]
    return folder / "last.ckpt" if (folder / "last.ckpt").is_file() else None


def weight_difference(exported: Mapping[str, torch.Tensor], checkpoint: Mapping[str, torch.Tensor]) -> float:
    """Largest |difference| between the weights both hold (inf when they share none or a shape differs): 0 when
    `exported` (the model dir's) came from `checkpoint`'s weights."""
    common = [k for k in exported if k in checkpoint]
    if not common or any(exported[k].shape != checkpoint[k].shape for k in common):
        return float("inf")
    diffs = [(exported[k].float() - checkpoint[k].float()).abs() for k in common]
    return max(float(d.max()) if d.numel() else 0.0 for d in diffs)


def metric_differences(fp32: Mapping[str, float], int8: Mapping[str, float], monitor: str | None) -> dict[str, float]:
    """{metric: int8 - fp32} for every val/ metric both runs logged, the monitored one first."""
    names = sorted(k for k in fp32 if k.startswith("val/") and k in int8)
    if monitor in names:
        names.remove(monitor)
        names.insert(0, monitor)
    return {name: int8[name] - fp32[name] for name in names}
