"""Export a trained model (`<run>/hf_model`) to ONNX and check it against PyTorch before keeping it.

    python src/export.py model_dir=logs/classification/train/<run>/hf_model      # -> <model_dir>/model.onnx
    python src/export.py model_dir=<run>/hf_model output=/models/imdb.onnx opset=18

The graph takes input_ids and attention_mask (and token_type_ids for pair models whose tokenizer makes
them) with the task's axes, all dynamic and named (batch, sequence; multiple choice adds choice), and
returns the head's outputs (logits; start_logits and end_logits for question answering). The parity
check runs PyTorch and onnxruntime on padded batches of several shapes; if any output differs by more
than `tolerance` the file is deleted and the run fails. Use it with `predict.py backend=onnx`.

    python src/export.py model_dir=<run>/hf_model quantize=int8     # + <model_dir>/model.int8.onnx

`quantize=int8` also writes a dynamically quantized int8 model beside the fp32 one (src/inference/quantize.py)
and scores both on the validation split of the run's data with the task's own metric code: the run's
checkpoint (`ckpt_path`, default <model_dir>/../checkpoints/best-*.ckpt) rebuilds the data module and the
LightningModule as eval.py does, and `Trainer.validate` runs twice with the ONNX models in the module's
`model` slot. Use it with `predict.py backend=onnx quantized=true`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from src.cli import prepare
from src.eval import checkpoint_datamodule, saved_data
from src.inference.onnx_export import OnnxSession, export_onnx, graph_axes, max_output_diff, parity_batches
from src.inference.predictor import load_config, load_model, resolve_max_length
from src.inference.quantize import (
    OnnxModel,
    find_checkpoint,
    metric_differences,
    quantize_int8,
    weight_difference,
)
from src.launch.wrap import task_wrapper
from src.tasks import task_for_model
from src.training.checkpoints import read_checkpoint
from src.training.stop import STOP
from src.utils.console import format_table, scalars
from src.utils.errors import ConfigError, DataError, MissingError, RunFailed, strip_verbose_flag, user_errors
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
    result: dict[str, Any] = {"path": str(path), "export_s": seconds, "max_abs_diff": diff}
    if cfg.quantize == "int8":
        result["int8"] = export_int8(cfg, task, model, path, batches)
        summary |= int8_rows(result["int8"])
    print(format_table(f"ONNX export of {cfg.model_dir}", summary))
    return result


def export_int8(cfg: DictConfig, task: Any, model: torch.nn.Module, fp32: Path, batches: list) -> dict[str, Any]:
    """Write <stem>.int8.onnx beside `fp32`, measure its outputs against PyTorch's on the parity batches (reported,
    not enforced: int8 differs by design) and its validation metrics against the fp32 model's."""
    STOP.stage = "int8 quantization"
    start = time.perf_counter()
    path = quantize_int8(fp32)
    seconds = time.perf_counter() - start
    io = task.model_io(dict(getattr(model.config, "finetune", None) or {}))
    diff = max_output_diff(model, OnnxSession(path, "cpu"), batches, io)
    log.info("int8 model written to %s in %.1f s; outputs within %.3g of PyTorch's.", path, seconds, diff)
    return {
        "path": str(path), "quantize_s": seconds, "max_abs_diff": diff,
        "size_mib": path.stat().st_size / 2**20, "fp32_size_mib": fp32.stat().st_size / 2**20,
        "validation": compare_on_validation(cfg, task, model, fp32, path),
    }  # fmt: skip


def compare_on_validation(cfg: DictConfig, task: Any, model: torch.nn.Module, fp32: Path, int8: Path) -> dict:
    """Validation metrics of the fp32 and int8 ONNX models, computed by the task's own LightningModule rebuilt
    from the run's checkpoint; {"skipped": why} when there is no usable checkpoint or data."""
    ckpt = find_checkpoint(cfg.ckpt_path, cfg.model_dir)
    if ckpt is None:
        return skipped(
            f"no checkpoint next to model_dir ({Path(cfg.model_dir).resolve().parent / 'checkpoints'} has no "
            "best-*.ckpt or last.ckpt). Fix: ckpt_path=<the .ckpt file of the run that wrote model_dir>"
        )
    if not ckpt.exists():
        raise MissingError(f"ckpt_path={cfg.ckpt_path!r} does not exist. Fix: ckpt_path=<a .ckpt file>, or null.")
    checkpoint = read_checkpoint(ckpt)
    saved = saved_data(checkpoint)
    if saved is None or checkpoint.get("task") != task.name:
        return skipped(f"{ckpt} was not written by src/train.py for task {task.name} (no data config or another "
                       "task). Fix: ckpt_path=<the .ckpt file of the run that wrote model_dir>")  # fmt: skip
    STOP.stage = "data preparation"
    try:
        datamodule = checkpoint_datamodule(
            task, checkpoint, *saved, tokenizer=str(cfg.model_dir), cache_dir=cfg.paths.cache_dir, stage="validate",
            tokenizer_key="model_dir",
        )  # fmt: skip
    except (DataError, MissingError, ConfigError) as err:
        return skipped(f"the run's validation data could not be read ({err})")
    module = task.load_module(str(ckpt), model={**checkpoint["hyper_parameters"]["model"], "compile": False,
                                                "trust_remote_code": False})  # fmt: skip
    why = exported_from(module, model, ckpt)
    if why:
        return skipped(why)
    monitor = monitored(checkpoint)
    del checkpoint
    scores = {name: validate(module, datamodule, file) for name, file in (("fp32", fp32), ("int8", int8))}
    return {
        "checkpoint": str(ckpt), "monitor": monitor, "rows": len(datamodule.splits["validation"]), **scores,
        "difference": metric_differences(scores["fp32"], scores["int8"], monitor),
    }  # fmt: skip


def exported_from(module: Any, model: torch.nn.Module, ckpt: Path) -> str | None:
    """Why the checkpoint's module cannot score model_dir's ONNX models (None: it can): its exported weights must
    be model_dir's, and its own model must compute what the exported one does (a task may rewrite the head at
    export, e.g. regression folds its target normalisation into it, and its metric code reads the unfolded one)."""
    exported = module.export_state()
    diff = weight_difference(model.state_dict(), exported)
    if diff > 1e-6:
        return (f"{ckpt} does not hold model_dir's weights (largest difference {diff:.3g}). "
                "Fix: ckpt_path=<the .ckpt file model_dir was exported from>")  # fmt: skip
    if weight_difference(exported, module.model.state_dict()) > 0:
        return (f"task {module.task_name} rewrites the head's weights at export (e.g. regression's target "
                "normalisation), so its metric code cannot read the exported model's outputs; compare predictions "
                "on labelled data instead (benchmarks/bench_predict.py --label-column)")  # fmt: skip
    return None


def validate(module: Any, datamodule: Any, onnx_file: Path) -> dict[str, float]:
    """The module's validation metrics with `onnx_file` in its `model` slot."""
    import lightning as L

    STOP.stage = f"validation of {onnx_file.name}"
    module.model = OnnxModel(OnnxSession(onnx_file, "cpu"))
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)  # no "GPU available" lines and tips per run
    try:
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
        trainer.validate(module, datamodule=datamodule, verbose=False)
    finally:
        lightning_log.setLevel(level)
    return scalars(trainer.callback_metrics)


def monitored(checkpoint: dict) -> str | None:
    """The metric the run's best checkpoint was chosen by (its ModelCheckpoint state), if any."""
    for state in (checkpoint.get("callbacks") or {}).values():
        if isinstance(state, dict) and state.get("monitor"):
            return str(state["monitor"])
    return None


def skipped(why: str) -> dict[str, str]:
    log.warning("int8 vs fp32 validation comparison skipped: %s", why)
    return {"skipped": why}


def int8_rows(int8: dict[str, Any]) -> dict[str, str]:
    """The export summary's int8 rows: file, size against fp32, output difference and every val/ metric."""
    rows = {
        "int8 model": int8["path"],
        "int8 size": f"{int8['size_mib']:.1f} MiB ({int8['size_mib'] / int8['fp32_size_mib']:.2f}x fp32's "
        f"{int8['fp32_size_mib']:.1f} MiB)",
        "int8 max |diff|": f"{int8['max_abs_diff']:.2e} (int8 vs PyTorch fp32, same batches; not a pass/fail check)",
        "int8 quantize time": f"{int8['quantize_s']:.1f} s",
    }
    validation = int8["validation"]
    if "skipped" in validation:
        return rows | {"int8 vs fp32 (val)": f"skipped: {validation['skipped']}"}
    rows["int8 vs fp32 (val)"] = (f"{validation['rows']} validation rows of {validation['checkpoint']}'s run: "
                                  "fp32 -> int8 (int8 - fp32)")  # fmt: skip
    for name, diff in validation["difference"].items():
        before, after = validation["fp32"][name], validation["int8"][name]
        rows[f"  {name}{' (monitor)' if name == validation['monitor'] else ''}"] = (
            f"{before:.4f} -> {after:.4f} ({diff:+.4f})"
        )
    return rows


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors():
        export(cfg)


if __name__ == "__main__":
    sys.argv = strip_verbose_flag(sys.argv)
    main()
