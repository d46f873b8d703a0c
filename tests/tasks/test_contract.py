"""The contract every registered task keeps, for every shape it declares (`Task.variants()`), on tiny models:
train with checkpoints, eval of the best checkpoint reproduces the test metrics, resume from last.ckpt,
export (config.json records the task), predict; the export loaded with the task's `AutoModelFor*` class,
each input run alone, gives predict's records; where transformers has a pipeline for the head, it gives
them too; ONNX export with named axes, parity and equal predictions.

A task registered in src/tasks/__init__.py with variants is tested here with no edit to this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.inference.onnx_export import graph_axes
from src.inference.predictor import Predictor
from src.tasks import get_task, task_names
from src.tasks.base import Task
from src.tasks.classification.config import ClassificationOptions
from src.tasks.classification.data import ClassificationDataModule
from src.tasks.classification.module import ClassificationModule
from tests.conftest import compose_config

# the fast suite runs each task's first shape and sentence pairs (token type ids through ONNX); the other shapes
# run in `make test-all` (their data handling has unit tests of its own in tests/tasks/<task>/)
FAST = {"pair"}
CASES = [
    pytest.param(name, variant, id=f"{name}-{variant}", marks=() if i == 0 or variant in FAST else pytest.mark.slow)
    for name in task_names()
    for i, variant in enumerate(get_task(name).variants())
]


def overrides(task: str, variant: str, model_dir: Path, data_dir: Path) -> list[str]:
    return [
        f"task={task}", "model=bert", f"model.pretrained={model_dir}", f"data.path={data_dir}", "data.max_length=128",
        "data.batch_size=16", "data.num_workers=0", "trainer=cpu", "logger=none", "model.optimizer.lr=3e-3",
        "trainer.max_epochs=2", "callbacks.reports.examples=3", *get_task(task).variants()[variant].overrides,
    ]  # fmt: skip


def alone(predictor: Predictor, rows: list[dict]) -> list[dict]:
    """Records from the export loaded with the task's AutoModelFor* class, each sequence run alone (no batching
    with other inputs, no sorting): predict's batching, padding and backend must not change them."""
    import torch

    task = predictor.task
    model = task.auto_class.from_pretrained(predictor.model_dir).eval()
    encoded = task.encode(predictor, rows)
    outputs = []
    for sequence in encoded.sequences:
        batch = predictor.collate([sequence])
        with torch.inference_mode():
            out = model(**batch)
        outputs.append({name: out[name][0].float() for name in predictor.io.outputs})
    return task.decode(predictor, rows, encoded, outputs)


def matches(expected: object, actual: object, tol: float = 1e-4) -> bool:
    """`actual` holds `expected`: every key of an expected dict (more keys may be present), lists item by item,
    numbers up to `tol`."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k], tol) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            matches(e, a, tol) for e, a in zip(expected, actual, strict=True)
        )  # fmt: skip
    if isinstance(expected, float) or isinstance(actual, float):
        return abs(float(expected) - float(actual)) <= tol  # type: ignore[arg-type]
    return expected == actual


@pytest.mark.parametrize(("task_name", "variant"), CASES)
def test_task_contract(task_name: str, variant: str, tiny: dict, tmp_path: Path) -> None:
    from src.eval import evaluate
    from src.export import export
    from src.tasks import load_predictor
    from src.train import train

    spec = get_task(task_name).variants()[variant]
    data = spec.write_data(tmp_path / "data", 0)
    base = overrides(task_name, variant, tiny["bert"], data)
    run = tmp_path / "run"

    # train: checkpoints, test of the best one, export with the task recorded for predict.py
    metrics = train(compose_config(base, output_dir=run))
    monitor = json.loads((run / "result.json").read_text())["monitor"]
    assert f"{monitor}_best" in metrics and any(k.startswith("test/") for k in metrics)
    config = json.loads((run / "hf_model" / "config.json").read_text())
    assert config["finetune"]["task"] == task_name

    # eval of the best checkpoint reproduces the run's test metrics
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    evaluated = evaluate(compose_config([f"ckpt_path={best}", "logger=none"], "eval", output_dir=tmp_path / "eval"))
    tested = {k: v for k, v in metrics.items() if k.startswith("test/")}
    assert {k: evaluated[k] for k in tested} == pytest.approx(tested, abs=1e-6)

    # resume from last.ckpt for one more epoch: the run continues where it stopped
    longer = [
        "ckpt_path=last",
        "trainer.max_epochs=3",
        "allow_changes=[trainer.max_epochs]",
        "test=false",
        "export=false",
    ]
    resumed = train(compose_config([*base, *longer], output_dir=run))
    assert f"{monitor}_best" in resumed

    # predict; the export in its AutoModelFor* class, input by input; the pipeline of the head; ONNX: the same
    task = get_task(task_name)
    predictor = load_predictor(run / "hf_model", device="cpu")
    records = predictor.predict(spec.inputs)
    assert len(records) == len(spec.inputs) and not any("error" in r for r in records)
    assert matches(alone(predictor, spec.inputs), records), (alone(predictor, spec.inputs), records)
    if task.pipeline_task:
        from transformers import pipeline

        pipe = pipeline(task.pipeline_task, model=str(run / "hf_model"), device="cpu")
        expected = task.pipeline_records(pipe, spec.inputs)
        assert expected is None or matches(expected, records), (expected, records)
    result = export(compose_config([f"model_dir={run / 'hf_model'}"], "export", output_dir=tmp_path / "onnx"))
    assert result["max_abs_diff"] < 1e-4
    axes = graph_axes(result["path"])
    assert all(axes[name] == list(predictor.io.input_axes) for name in ("input_ids", "attention_mask"))
    assert all(axes[name] == list(shape[: len(axes[name])]) for name, shape in predictor.io.outputs.items()
               if "label" not in shape)  # fmt: skip
    onnx_records = load_predictor(run / "hf_model", device="cpu", backend="onnx").predict(spec.inputs)
    assert matches(records, onnx_records), (onnx_records, records)


def test_a_task_registered_by_a_fork_is_found_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering is one entry: an import path in src/tasks/__init__.py's REGISTRY (the contract test above is
    parametrised from it at collection time)."""
    import src.tasks

    monkeypatch.setitem(src.tasks.REGISTRY, "topics", "src.tasks.classification:TASK")
    assert "topics" in src.tasks.task_names() and src.tasks.get_task("topics").variants()
    with pytest.raises(KeyError, match=r"task.name=.nope. is not a registered task .*docs/adding_a_task.md"):
        src.tasks.get_task("nope")


class _MinimalData(ClassificationDataModule):
    task_name = "minimal"


class _MinimalModule(ClassificationModule):
    task_name = "minimal"


class _MinimalTask(Task):
    """A fork's first task: only its data module and module, every other hook the generic fallback."""

    name = "minimal"
    datamodule_class = _MinimalData
    module_class = _MinimalModule
    options_class = ClassificationOptions


MINIMAL = _MinimalTask()


def test_a_task_with_only_data_and_module_gets_generic_reports_eval_and_predict(
    tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import src.tasks
    from src.eval import evaluate
    from src.tasks import load_predictor
    from src.train import train
    from tests.conftest import tiny_overrides

    monkeypatch.setitem(src.tasks.REGISTRY, "minimal", "tests.tasks.test_contract:MINIMAL")
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "task.name=minimal", "task.monitor=val/acc")
    metrics = train(compose_config(overrides, output_dir=tmp_path / "run"))
    assert "test/acc" in metrics
    report = tmp_path / "run" / "report"
    assert (report / "data" / "token_lengths.png").is_file() and not (report / "test").exists()
    assert "## Metrics" in (tmp_path / "run" / "report.md").read_text()
    best = next((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))
    assert "test/acc" in evaluate(compose_config([f"ckpt_path={best}", "logger=none"], "eval", tmp_path / "eval"))
    (record,) = load_predictor(tmp_path / "run" / "hf_model", device="cpu").predict(["a great film"])
    assert record["label"] in {"neg", "pos"} and len(record["logits"]) == 2
