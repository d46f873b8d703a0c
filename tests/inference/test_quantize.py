"""src/export.py quantize=int8 and predict.py quantized=true: the int8 file, its predictions against fp32, the
validation comparison on a run directory, and the errors that say how to make or pick the right file."""

from __future__ import annotations

import logging
import shutil
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import onnx
import pytest
import torch
from transformers import BertForSequenceClassification

from src.inference.predictor import Settings, load_model
from src.tasks import load_predictor
from src.tasks.classification.synthetic import sentiment_rows
from src.utils.errors import ConfigError
from tests.conftest import compose_config, tiny_overrides

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

TEXTS = [r["text"] for r in sentiment_rows(40, seed=7)]


def export(model_dir: Path, run: Path, *extra: str) -> tuple[dict, str]:
    """In-process `python src/export.py model_dir=... quantize=int8 ...`: (returned dict, printed summary)."""
    from src.export import export as run_export

    cfg = compose_config([f"model_dir={model_dir}", "quantize=int8", *extra], "export", run)
    with redirect_stdout(StringIO()) as printed:
        result = run_export(cfg)
    return result, printed.getvalue()


@pytest.fixture(scope="module")
def quantized(sentiment_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """A copy of the tiny trained classifier (no run directory around it) exported with quantize=int8."""
    model_dir = shutil.copytree(sentiment_model, tmp_path_factory.mktemp("int8") / "hf_model")
    return model_dir, *export(model_dir, tmp_path_factory.mktemp("export-run"))


@pytest.fixture(scope="module")
def run_dir(tiny: dict, sentiment_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny training run: hf_model beside checkpoints/best-*.ckpt, as src/train.py writes them."""
    from src.train import train

    run = tmp_path_factory.mktemp("run")
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "test=false", "callbacks.reports=null")
    train(compose_config(overrides, output_dir=run))
    return run


def test_int8_file_is_written_smaller_and_predicts_like_fp32(quantized: tuple[Path, dict, str]) -> None:
    model_dir, result, printed = quantized
    int8 = result["int8"]
    assert Path(int8["path"]) == model_dir / "model.int8.onnx" and (model_dir / "model.onnx").is_file()
    assert int8["size_mib"] < 0.8 * int8["fp32_size_mib"]  # the tiny model is mostly embeddings: they stay fp32
    graph = onnx.load(int8["path"]).graph
    linears = sum(isinstance(m, torch.nn.Linear) for m in load_model(str(model_dir), BertForSequenceClassification)
                  .modules())  # fmt: skip
    int8_matrices = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert len(int8_matrices) == linears  # every weight matrix (each with its int8 zero points besides)
    assert "int8 model" in printed and "int8 size" in printed
    # the tiny model's skipped comparison says why and how to get it
    assert "no checkpoint next to model_dir" in int8["validation"]["skipped"]
    assert "Fix: ckpt_path=" in printed
    fp32 = load_predictor(model_dir, backend="onnx", device="cpu", settings=Settings(batch_size=8)).predict(TEXTS)
    q = load_predictor(model_dir, backend="onnx", quantized=True, device="cpu", settings=Settings(batch_size=8))
    assert q.precision == "int8" and q.model_file == model_dir / "model.int8.onnx"
    got = q.predict(TEXTS)
    # Per-channel int8 weights and per-batch uint8 activations perturb each matmul by ~1/127 of its range; through
    # the tiny model's 2 layers that moves a probability by about 1e-2 (measured: < 4e-3). 0.03 leaves room
    # while a wrong graph (shifted logits, other weights, lost mask) moves probabilities by 0.1 or more.
    assert [r["probs"]["pos"] for r in got] == pytest.approx([r["probs"]["pos"] for r in fp32], abs=0.03)
    confident = [i for i, r in enumerate(fp32) if abs(r["probs"]["pos"] - 0.5) > 0.05]
    assert len(confident) >= 30
    assert [got[i]["label"] for i in confident] == [fp32[i]["label"] for i in confident]


def test_validation_comparison_on_a_run_directory(run_dir: Path, tmp_path: Path) -> None:
    """fp32 ONNX in the module's model slot scores what the checkpoint's PyTorch model scores; the int8 row is
    the int8 model's own, and the differences are int8 - fp32 with the monitored metric first."""
    import lightning as L

    from src.eval import checkpoint_datamodule, saved_data
    from src.tasks import get_task
    from src.training.checkpoints import read_checkpoint
    from src.utils.console import scalars

    result, printed = export(run_dir / "hf_model", tmp_path)
    validation = result["int8"]["validation"]
    assert Path(validation["checkpoint"]).parent == run_dir / "checkpoints"
    assert Path(validation["checkpoint"]).name.startswith("best-")
    assert validation["monitor"] == "val/acc" and next(iter(validation["difference"])) == "val/acc"
    assert {"val/acc", "val/f1", "val/auroc", "val/loss"} <= set(validation["difference"])
    for name, diff in validation["difference"].items():
        assert diff == pytest.approx(validation["int8"][name] - validation["fp32"][name])
    assert "val/acc (monitor)" in printed and "int8 vs fp32 (val)" in printed

    task, checkpoint = get_task("classification"), read_checkpoint(validation["checkpoint"])
    datamodule = checkpoint_datamodule(task, checkpoint, *saved_data(checkpoint), tokenizer=str(run_dir / "hf_model"),
                                       cache_dir=str(tmp_path / "cache"), stage="validate")  # fmt: skip
    module = task.load_module(validation["checkpoint"], model={**checkpoint["hyper_parameters"]["model"]})
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.validate(module, datamodule=datamodule, verbose=False)
    torch_metrics = scalars(trainer.callback_metrics)
    for name in validation["difference"]:
        assert validation["fp32"][name] == pytest.approx(torch_metrics[name], abs=1e-4), name
    assert abs(validation["difference"]["val/acc"]) <= 0.1  # a broken int8 graph scores at chance


def test_a_checkpoint_of_other_weights_is_not_compared(run_dir: Path, sentiment_model: Path) -> None:
    from src.export import exported_from
    from src.tasks import get_task

    task = get_task("classification")
    ckpt = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    module = task.load_module(str(ckpt))
    assert exported_from(module, load_model(str(run_dir / "hf_model"), task.auto_class), ckpt) is None
    why = exported_from(module, load_model(str(sentiment_model), task.auto_class), ckpt)
    assert why is not None and "does not hold model_dir's weights" in why and "Fix: ckpt_path=" in why


def test_predict_says_which_model_ran(
    quantized: tuple[Path, dict, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from src.predict import predict

    model_dir = quantized[0]
    for flag, file, precision in (("true", "model.int8.onnx", "int8"), ("false", "model.onnx", "fp32")):
        cfg = compose_config([f"model_dir={model_dir}", "+fields.text=A fine film.", "backend=onnx",
                              f"quantized={flag}"], "predict", tmp_path)  # fmt: skip
        with caplog.at_level(logging.INFO, logger="predict"), redirect_stdout(StringIO()):
            (record,) = predict(cfg)
        assert record["label"] in {"neg", "pos"}
        assert f"backend=onnx, model={model_dir / file} ({precision})" in caplog.text
        caplog.clear()


def test_missing_or_wrong_int8_file_says_how_to_make_it(ner_model: Path, quantized: tuple[Path, dict, str]) -> None:
    with pytest.raises(FileNotFoundError, match=r"model.int8.onnx does not exist. Fix: python src/export.py "
                       rf"model_dir={ner_model} quantize=int8"):  # fmt: skip
        load_predictor(ner_model, backend="onnx", quantized=True, device="cpu")
    with pytest.raises(ConfigError, match=r"quantized=true runs the int8 ONNX model .* Fix: add backend=onnx"):
        load_predictor(ner_model, quantized=True, device="cpu")
    model_dir = quantized[0]
    with pytest.raises(ConfigError, match=r"model.onnx is a fp32 model, not one written by .* quantize=int8"):
        load_predictor(model_dir, backend="onnx", quantized=True, onnx_path=model_dir / "model.onnx", device="cpu")


def test_bad_quantize_value_is_refused_by_the_schema(tmp_path: Path) -> None:
    from src.export import export as run_export

    with pytest.raises(ConfigError, match=r"quantize='int4': not an allowed value .* Allowed: null or 'int8'"):
        run_export(compose_config(["model_dir=m", "quantize=int4"], "export", tmp_path))  # before any work
