"""A public dataset's published metrics (data.benchmark, src/reports/benchmark.py) in the run summary and
result.json: GLUE MRPC's F1 is the positive class's, not the macro F1 the task logs as `f1`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from src.reports.benchmark import benchmark_scores
from tests.conftest import compose_config, tiny_overrides


def test_published_names_read_the_logged_metrics_at_the_published_scale(caplog: pytest.LogCaptureFixture) -> None:
    spec = SimpleNamespace(name="GLUE MRPC", metrics={"F1": "test/equivalent/f1", "accuracy": "test/acc"}, scale=100.0)
    scores = benchmark_scores(spec, {"test/equivalent/f1": 0.8181, "test/acc": 0.7222, "test/f1": 0.585})
    assert scores == pytest.approx({"F1": 81.81, "accuracy": 72.22})
    assert benchmark_scores(spec, {"test/acc": 0.5}) == {"accuracy": 50.0}
    assert "['test/equivalent/f1'] not logged by this run" in caplog.text
    assert benchmark_scores(None, {"test/acc": 0.5}) == {}


def test_a_run_prints_and_records_its_benchmark(
    tiny: dict, sentiment_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from src.train import train

    bench = ["data.benchmark.name=Reviews", "+data.benchmark.metrics.F1=test/pos/f1"]  # data=imdb has accuracy
    metrics = train(
        compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", *bench), output_dir=tmp_path)
    )
    recorded = json.loads((tmp_path / "result.json").read_text())["benchmark"]
    assert recorded == pytest.approx({"F1": 100 * metrics["test/pos/f1"], "accuracy": 100 * metrics["test/acc"]})
    assert metrics["test/pos/f1"] != metrics["test/f1"]  # the positive class's F1 is not the macro F1
    assert "Reviews, as published tables report it" in capsys.readouterr().out
