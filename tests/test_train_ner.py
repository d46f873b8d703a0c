"""End-to-end NER runs: fast_dev_run per backbone, train + eval of a checkpoint + the exported pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import compose_config, ner_overrides


@pytest.mark.parametrize("kind", ["distilbert", "roberta"])  # bert: the contract test
def test_ner_fast_dev_run_each_backbone(kind: str, tiny: dict, ner_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    metrics = train(compose_config(ner_overrides(tiny[kind], ner_dir, "debug=fdr"), output_dir=tmp_path))
    assert {"test/f1", "test/precision", "test/recall", "test/token_acc", "test/PER/f1"} <= set(metrics)
    config = json.loads((tmp_path / "hf_model" / "config.json").read_text())
    assert config["id2label"]["0"] == "O" and config["architectures"][0].endswith("ForTokenClassification")


def test_ner_learns_and_the_export_loads_in_the_pipeline(tiny: dict, ner_dir: Path, tmp_path: Path) -> None:
    from transformers import pipeline

    from src.train import train  # in-process: test_train.py runs the CLI, the contract test evaluates checkpoints

    run = tmp_path / "run"
    metrics = train(compose_config(ner_overrides(tiny["roberta"], ner_dir, "trainer.max_epochs=5"), output_dir=run))
    assert metrics["test/f1"] > 0.3  # random tagging scores ~0

    tagger = pipeline("token-classification", model=str(run / "hf_model"), aggregation_strategy="simple")
    found = tagger("the film with Alice and Bob in Paris")
    assert found and all(e["entity_group"] in {"PER", "LOC", "ORG"} for e in found)
    assert all({"start", "end", "word", "score"} <= set(e) for e in found)


def test_eval_takes_the_task_from_the_checkpoint_and_refuses_another(tiny: dict, ner_dir: Path, tmp_path: Path) -> None:
    from src.eval import evaluate
    from src.train import train

    train(compose_config(ner_overrides(tiny["bert"], ner_dir, "debug=limit"), output_dir=tmp_path))
    ckpt = f"ckpt_path={tmp_path}/checkpoints/last.ckpt"
    metrics = evaluate(compose_config([ckpt, "logger=none"], "eval", output_dir=tmp_path / "e"))  # no task=ner needed
    assert "test/f1" in metrics
    with pytest.raises(ValueError, match="trained with task=ner; evaluate it with task=ner"):
        evaluate(compose_config([ckpt, "task=classification"], "eval", output_dir=tmp_path / "e2"))
