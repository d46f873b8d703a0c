"""Run reports: every artifact is written whatever the logger, and its numbers agree with torchmetrics."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from torchmetrics.classification import MulticlassF1Score, MulticlassPrecision

from src.tasks.classification import report
from tests.conftest import compose_config, ner_overrides, tiny_overrides


@pytest.fixture(scope="module")
def sentiment_run(tiny: dict, sentiment_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from src.train import train

    out = tmp_path_factory.mktemp("sentiment-run")
    metrics = train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "trainer.max_epochs=3"), output_dir=out))
    return out, metrics


def test_sentiment_report_files_and_numbers(sentiment_run: tuple[Path, dict], sentiment_dir: Path) -> None:
    out, metrics = sentiment_run
    names = {p.relative_to(out / "report").as_posix() for p in (out / "report").rglob("*") if p.is_file()}
    for stage in ("val", "test"):
        assert {f"{stage}/{f}" for f in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png", "per_class.csv",
                                         "per_class.md", "predictions.csv", "predictions.md")} <= names  # fmt: skip
    assert {"data/class_distribution.png", "data/token_lengths.png"} <= names
    per_class = pd.read_csv(out / "report" / "test" / "per_class.csv")
    assert per_class["f1"].mean() == pytest.approx(metrics["test/f1"], abs=1e-6)  # macro F1 = the logged one
    assert per_class["support"].sum() == len(pd.read_parquet(sentiment_dir / "test.parquet"))
    val = pd.read_csv(out / "report" / "val" / "per_class.csv")  # the best epoch's, not the last one's
    assert (val["recall"] * val["support"]).sum() / val["support"].sum() == pytest.approx(metrics["val/acc_best"])
    report = (out / "report.md").read_text()
    assert "## Metrics" in report and f"| acc | {metrics['val/acc_best']:.4f} | {metrics['test/acc']:.4f} |" in report
    for link in re.findall(r"\]\((report/[^)]+)\)", report):
        assert (out / link).is_file(), link


def test_sentiment_section_agrees_with_torchmetrics(sentiment_run: tuple[Path, dict]) -> None:
    from datasets import Dataset

    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(60, 3, generator=generator), dim=-1)
    labels = torch.randint(0, 3, (60,), generator=generator)
    split = Dataset.from_dict({"text": [f"text {i}" for i in range(80)]})
    idx = torch.arange(10, 70)  # rows of the split the predictions belong to
    info = {"label_names": ["a", "b", "c"], "problem_type": "single_label_classification"}
    section = report.eval_section("test", {"probs": probs, "labels": labels, "idx": idx}, split, info, 4)
    table = section.tables["per_class"]
    assert table["f1"].tolist() == pytest.approx(MulticlassF1Score(3, average=None)(probs, labels).tolist())
    assert table["precision"].tolist() == pytest.approx(MulticlassPrecision(3, average=None)(probs, labels).tolist())
    rows = section.tables["predictions"]
    mistakes = rows[rows["kind"] == "confident mistake"]
    assert len(rows) == 4 + 4 and (mistakes["gold"] != mistakes["predicted"]).all()
    assert mistakes["probability"].is_monotonic_decreasing
    first = mistakes.iloc[0]
    row = int(first["text"].split()[1]) - 10  # the text is looked up through idx
    assert ["a", "b", "c"][int(labels[row])] == first["gold"] and float(probs[row].max()) == pytest.approx(
        first["probability"], abs=1e-4
    )
    assert section.figures["roc_curve"].axes[0].get_title().startswith("ROC, AUROC 0.")
    section.close()


def test_ner_report(tiny: dict, ner_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    metrics = train(compose_config(ner_overrides(tiny["bert"], ner_dir, "trainer.max_epochs=2"), output_dir=tmp_path))
    report = tmp_path / "report"
    assert {p.name for p in (report / "data").iterdir()} == {
        "entity_types.png",
        "sentence_lengths.png",
        "subtoken_lengths.png",
    }
    per_type = pd.read_csv(report / "test" / "per_type.csv").set_index("type")
    for kind in ("PER", "LOC", "ORG"):
        assert per_type.loc[kind, "f1"] == pytest.approx(metrics[f"test/{kind}/f1"], abs=1e-6)
    assert per_type.loc["all (micro)", "f1"] == pytest.approx(metrics["test/f1"], abs=1e-6)
    worst = pd.read_csv(report / "test" / "worst_sentences.csv")
    assert worst["errors"].is_monotonic_decreasing and (worst["errors"] > 0).all()
    assert (report / "test" / "tag_confusion_matrix.png").is_file()
    assert "## Evaluation: test" in (tmp_path / "report.md").read_text()


def test_interrupted_run_keeps_its_best_validation_report(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train
    from tests.helpers import InterruptedForTest

    overrides = tiny_overrides(
        tiny["bert"], sentiment_dir, "data.max_samples.train=150", "trainer.max_epochs=3",  # 5 steps per epoch
        "+callbacks.record._target_=tests.helpers.LossRecorder", f"+callbacks.record.path={tmp_path}/losses.jsonl",
        "+callbacks.record.stop_at_step=7",  # in the second epoch, after the first validation
    )  # fmt: skip
    with pytest.raises(InterruptedForTest):
        train(compose_config(overrides, output_dir=tmp_path))
    assert (tmp_path / "report" / "val" / "confusion_matrix.png").is_file()
    assert "## Evaluation: validation (best epoch)" in (tmp_path / "report.md").read_text()


def test_labels_and_texts_from_the_data_cannot_break_report_md() -> None:
    """A label with `|`, a line break or HTML would split a table row or inject markup into a rendered report."""
    import pandas as pd

    from src.reports.report import markdown_table, md_cell

    assert md_cell("a|b\nc<script>\x07") == "a\\|b c&lt;script&gt; "
    table = markdown_table(pd.DataFrame({"label|x": ["pos\nneg", "<b>"], "f1": [0.5, 1.0]}))
    lines = table.splitlines()
    assert len(lines) == 4 and all(line.count(" | ") == 1 for line in lines if not line.startswith("|-"))
    assert lines[0] == "| label\\|x | f1 |" and lines[3] == "| &lt;b&gt; | 1.0000 |"
