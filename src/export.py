"""Export a trained model (`<run>/hf_model`) to ONNX and check it against PyTorch before keeping it.

    python src/export.py model_dir=logs/classification/train/<run>/hf_model      # -> <model_dir>/model.onnx
    python src/export.py model_dir=<run>/hf_model output=/models/imdb.onnx opset=18

The graph takes input_ids and attention_mask (and token_type_ids for pair models whose tokenizer makes
them) with the task's axes, all dynamic and named (batch, sequence; multiple choice adds choice), and
returns the head's outputs (logits; start_logits and end_logits for question answering). The parity
check runs PyTorch and onnxruntime on padded batches of several shapes; if any output differs by more
than `tolerance` the file is deleted and the run fails. Use it with `predict.py backend=onnx`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig

from src.cli import prepare
from src.inference.onnx_export import OnnxSession, export_onnx, graph_axes, max_output_diff, parity_batches
from src.inference.predictor import load_config, load_model, resolve_max_length
from src.launch.wrap import task_wrapper
from src.tasks import task_for_model
from src.training.stop import STOP
from src.utils.console import format_table
from src.utils.errors import ConfigError, RunFailed, strip_verbose_flag, user_errors
from src.utils.log import get_logger, quiet_libraries

log = get_logger("export")
prepare()  # config schemas, resolvers, config errors as user errors: before Hydra composes


def output_path(cfg: DictConfig) -> Path:
    """`output`, or <model_dir>/model.onnx (where predict.py backend=onnx looks)."""
    if cfg.output:
        return Path(cfg.output)
    if not Path(cfg.model_dir).is_dir():
        raise ConfigError(f"model_dir={cfg.model_dir!r} is not a local directory. Fix: output=<file.onnx>.")
    return Path(cfg.model_dir) / "model.onnx"


@task_wrapper
def export(cfg: DictConfig) -> dict[str, object]:
    """Export, check parity, report; returns path, export seconds and the largest output difference."""
    quiet_libraries()
    config = load_config(cfg.model_dir)
    task = task_for_model(config, f"model_dir={cfg.model_dir!r}")
    io = task.model_io(dict(getattr(config, "finetune", None) or {}))
    tokenizer = task.load_tokenizer(cfg.model_dir, key="model_dir")
    model = load_model(cfg.model_dir, task.auto_class)
    inputs = io.input_names(tokenizer.model_input_names)
    path = output_path(cfg)
    STOP.stage = "onnx export"
    start = time.perf_counter()
    export_onnx(model, path, io, inputs, opset=int(cfg.opset))
    seconds = time.perf_counter() - start
    vocab = model.get_input_embeddings().num_embeddings
    batches = parity_batches(vocab, resolve_max_length(None, tokenizer, config), io, inputs)
    diff = max_output_diff(model, OnnxSession(path, "cpu"), batches, io)
    if not diff <= float(cfg.tolerance):  # NaN fails too
        path.unlink()
        raise RunFailed(
            f"ONNX parity check failed: outputs differ from PyTorch by {diff:.3g} > tolerance={cfg.tolerance} "
            f"on batches of shapes {[tuple(b['input_ids'].shape) for b in batches]}; {path} was deleted. "
            "Fix: try another opset=..., or report the model type; predict with backend=torch meanwhile."
        )
    shapes = ", ".join("x".join(map(str, b["input_ids"].shape)) for b in batches)
    axes = graph_axes(path)
    summary = {
        "onnx model": path,
        "task": task.name,
        "inputs": ", ".join(f"{name} ({' x '.join(map(str, axes[name]))})" for name in inputs),
        "outputs": ", ".join(f"{name} ({' x '.join(map(str, axes[name]))})" for name in io.outputs),
        "opset": cfg.opset,
        "export time": f"{seconds:.1f} s",
        "parity max |diff|": f"{diff:.2e} (PyTorch vs onnxruntime, every output, batches {shapes})",
        "size": f"{path.stat().st_size / 2**20:.1f} MiB",
    }
    print(format_table(f"ONNX export of {cfg.model_dir}", summary))
    return {"path": str(path), "export_s": seconds, "max_abs_diff": diff}


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors():
        export(cfg)


if __name__ == "__main__":
    sys.argv = strip_verbose_flag(sys.argv)
    main()
