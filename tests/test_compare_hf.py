"""benchmarks/compare_hf.py: the template and a plain transformers.Trainer on the same rows and settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare_hf import check_mirrorable
from src.tasks.classification.synthetic import pair_rows, write_splits
from tests.conftest import ROOT, compose_config

PAIRS = ["data.text_column=text", "data.text_pair_column=text_pair", "data.label_column=label"]


@pytest.mark.slow  # a benchmark tool, ~45 s: `make test-all` runs it
def test_both_sides_report_the_same_test_metrics(tiny: dict, tmp_path: Path) -> None:
    """End to end on a tiny BERT and synthetic sentence pairs: each side trains, is tested with the same metric
    code (so the same keys), and the comparison is written as JSON and Markdown."""
    data = write_splits(pair_rows, tmp_path / "pairs", n_train=96, n_test=32)
    out = tmp_path / "compare" / "pairs"
    cmd = [
        sys.executable, "benchmarks/compare_hf.py", "--experiment", "sick_entailment_minilm", "--data", str(data),
        "--model", str(tiny["bert"]), "--out", str(out), "--overrides", *PAIRS, "trainer=cpu",
        "trainer.max_epochs=1", "data.num_workers=0", "data.max_length=64", "model.optimizer.lr=2e-3",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"

    results = json.loads(Path(f"{out}.json").read_text())["results"]
    template, hf = results["template"], results["hf_trainer"]
    per_class = {"test/agree/f1", "test/disagree/f1"}  # single-label runs log each class's F1 (de5299f)
    assert set(template["test"]) == set(hf["test"]) == {"test/acc", "test/f1", "test/auroc", "test/loss", *per_class}
    assert template["rows"] == hf["rows"] == {"train": 86, "validation": 10, "test": 32}  # val: ceil(10% of 96)
    for side in (template, hf):
        assert side["monitor"] == "val/acc" and side["best_val"] is not None
        assert side["epochs"] == 1 and side["fit_s"] > 0 and side["samples_per_s"] > 0
    markdown = Path(f"{out}.md").read_text()
    assert "| | template | hf_trainer | template - hf_trainer |" in markdown and "| test/acc |" in markdown
    assert markdown in proc.stdout  # the table printed is the one written


@pytest.mark.parametrize(
    "override", ["model.class_weights=balanced", "model.freeze_backbone=true", "trainer.val_check_interval=0.5"]
)
def test_refuses_settings_the_trainer_cannot_mirror(override: str) -> None:
    cfg = compose_config(["experiment=sick_entailment_minilm", "data.path=unused", override])
    with pytest.raises(SystemExit, match=override.split("=")[0]):
        check_mirrorable(cfg)
