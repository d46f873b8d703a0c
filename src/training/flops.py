"""Model FLOPs of a training step and the device's peak, for MFU (model FLOPs utilisation).

MFU = (FLOPs the model needs for the tokens it processed) / (seconds x peak FLOP/s of the devices).
Per token, a forward pass costs 2 FLOPs per weight of every matrix the token goes through (embeddings
are lookups: not counted) plus attention's two T x T products, 4 x T x d per layer; training (forward
+ backward) is 3x the forward (Kaplan et al. 2020; PaLM's MFU, Chowdhery et al. 2022). Padded positions
are computed too, so they count: padding efficiency is reported apart.
"""

from __future__ import annotations

from torch import nn

# dense peak TFLOP/s per device (vendor datasheets, no sparsity), by the substring torch.cuda.get_device_name
# reports; "bf16" also covers fp16 autocast, "tf32" is fp32 matmuls on tensor cores (float32_matmul_precision
# high), "fp32" plain fp32. Order matters: the first substring that matches wins.
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("H100 PCIe", {"bf16": 756.0, "tf32": 378.0, "fp32": 51.2}),
    ("H100", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),  # SXM
    ("A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.1, "tf32": 183.0, "fp32": 91.6}),
    ("L4", {"bf16": 121.0, "tf32": 60.0, "fp32": 30.3}),
    ("A10", {"bf16": 125.0, "tf32": 62.5, "fp32": 31.2}),
    ("V100", {"bf16": 125.0, "tf32": 15.7, "fp32": 15.7}),  # fp16 tensor cores; no bf16 or tf32
    ("T4", {"bf16": 65.0, "tf32": 8.1, "fp32": 8.1}),  # fp16 tensor cores
]


def matmul_params(model: nn.Module) -> int:
    """Weights a token is multiplied with: every parameter outside embedding tables."""
    embedding = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in embedding)


def attention_dims(config: object) -> tuple[int, int]:
    """(layers, hidden size) from a Hugging Face config (BERT/RoBERTa names, or DistilBERT's)."""
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", 0)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    return int(layers), int(hidden)


class StepFlops:
    """Training FLOPs of `sequences` padded sequences of `length` tokens through `model` (a Hugging Face
    PreTrainedModel): a (B, T) batch is B sequences, a multiple-choice (B, C, T) batch B x C."""

    def __init__(self, model: nn.Module) -> None:
        self.params = matmul_params(model)
        self.layers, self.hidden = attention_dims(model.config)

    def __call__(self, sequences: int, length: int) -> float:
        tokens = sequences * length
        forward = 2 * self.params * tokens + 4 * self.layers * self.hidden * sequences * length * length
        return 3.0 * forward


def precision_kind(precision: str, matmul_precision: str) -> str:
    """Which peak applies: bf16/fp16 autocast -> bf16, fp32 with TF32 matmuls -> tf32, else fp32."""
    if "16" in str(precision):
        return "bf16"
    return "tf32" if matmul_precision in ("high", "medium") else "fp32"


def device_peak_tflops(name: str, kind: str) -> float | None:
    """Peak TFLOP/s of a device by its name (None when the table does not know it: set peak_tflops)."""
    for key, peaks in PEAK_TFLOPS:
        if key.lower() in name.lower():
            return peaks[kind]
    return None
