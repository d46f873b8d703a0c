"""The contract every registered task keeps, for every shape it declares (`Task.variants()`), on tiny models:
train with checkpoints, eval of the best checkpoint reproduces the test metrics, resume from last.ckpt,
export (config.json records the task), `transformers.pipeline` loads the export (and for text
classification gives predict.py's numbers), predict, ONNX export with parity and equal predictions.

A task registered in src/tasks/__init__.py with variants is tested here with no edit to this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from src.tasks import get_task, task_names
from src.tasks.base import Task
from src.tasks.classification.data import ClassificationDataModule
from src.tasks.classification.module import ClassificationModule
from tests.conftest import compose_config

CASES = [(name, variant) for name in task_names() for variant in get_task(name).variants()]


def overrides(task: str, variant: str, model_dir: Path, data_dir: Path) -> list[str]:
    return [
        f"task={task}", "model=bert", f"model.pretrained={model_dir}", f"data.path={data_dir}", "data.max_length=128",
        "data.batch_size=16", "data.num_workers=0", "trainer=cpu", "logger=none", "model.optimizer.lr=3e-3",
        "trainer.max_epochs=2", "callbacks.reports.examples=3", *get_task(task).variants()[variant].overrides,
    ]  # fmt: skip


def compare_with_pipeline(task_name: str, model_dir: Path, inputs: list[dict], records: list[dict]) -> None:
    """The exported model in transformers.pipeline: it loads, and for sequence classification (single label,
    pairs, multi-label, regression) its numbers are predict.py's."""
    from transformers import pipeline

    pipe = pipeline(get_task(task_name).pipeline_task, model=str(model_dir), device="cpu")
    if get_task(task_name).pipeline_task != "text-classification":
        outputs = pipe([r["text"] for r in inputs])
        labels = set(json.loads((model_dir / "config.json").read_text())["id2label"].values())
        assert all(o["entity"] in labels for out in outputs for o in out)
        return
    for row, record in zip(inputs, records, strict=True):
        scores = {o["label"]: o["score"] for o in pipe(dict(row) if "text_pair" in row else row["text"], top_k=None)}
        if "probs" in record:  # single and multi-label: every label's probability (softmax / sigmoid)
            assert scores == pytest.approx(record["probs"], abs=1e-5)
        else:  # regression: the raw-scale score (the normalisation is folded into the exported head)
            assert list(scores.values()) == pytest.approx([record["score"]], abs=1e-4)


@pytest.mark.parametrize(("task_name", "variant"), CASES, ids=[f"{t}-{v}" for t, v in CASES])
def test_task_contract(task_name: str, variant: str, tiny: dict, tmp_path: Path) -> None:
    from src.eval import evaluate
    from src.export import export
    from src.inference.predictor import Predictor
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
    resumed = train(compose_config([*base, "ckpt_path=last", "trainer.max_epochs=3", "test=false", "export=false"],
                                   output_dir=run))  # fmt: skip
    assert f"{monitor}_best" in resumed

    # predict, pipeline, ONNX: the same numbers
    records = Predictor(run / "hf_model", device="cpu").predict(spec.inputs)
    assert len(records) == len(spec.inputs) and not any("error" in r for r in records)
    compare_with_pipeline(task_name, run / "hf_model", spec.inputs, records)
    result = export(compose_config([f"model_dir={run / 'hf_model'}"], "export", output_dir=tmp_path / "onnx"))
    assert result["max_abs_diff"] < 1e-4
    onnx_records = Predictor(run / "hf_model", device="cpu", backend="onnx").predict(spec.inputs)
    assert _close(onnx_records, records), (onnx_records, records)


def _close(a: object, b: object, tol: float = 1e-4) -> bool:
    """Records equal up to `tol` on every number (nested dicts/lists)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


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
    option_keys: ClassVar[set[str]] = {"threshold"}


MINIMAL = _MinimalTask()


def test_a_task_with_only_data_and_module_gets_generic_reports_eval_and_predict(
    tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import src.tasks
    from src.eval import evaluate
    from src.inference.predictor import Predictor
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
    (record,) = Predictor(tmp_path / "run" / "hf_model", device="cpu").predict(["a great film"])
    assert record["label"] in {"neg", "pos"} and len(record["logits"]) == 2
