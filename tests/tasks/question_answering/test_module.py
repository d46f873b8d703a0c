"""The QA module: whole questions scored from a batch of windows, v2's threshold kept in checkpoints, and the
MiniLM experiment config run end to end (fast_dev_run) on synthetic SQuAD rows."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from src.tasks.question_answering import synthetic
from src.tasks.question_answering.module import QuestionAnsweringModule
from tests.conftest import compose_config, tiny_overrides

NONE = float("-inf")


@pytest.fixture(scope="module")
def qa_module(tiny: dict) -> QuestionAnsweringModule:
    return QuestionAnsweringModule(model={"pretrained": str(tiny["bert"])}, version_2=True, max_answer_length=3)


def batch_of_windows() -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Question 4 ("ab cd ef", gold "ef") in two windows; question 9 ("gh ij", unanswerable) in one."""
    offsets_start = torch.tensor([[-1, -1, 0, 3, -1], [-1, -1, 3, 6, -1], [-1, -1, 0, 3, -1]])
    offsets_end = torch.tensor([[-1, -1, 2, 5, -1], [-1, -1, 5, 8, -1], [-1, -1, 2, 5, -1]])
    batch = {
        "example": torch.tensor([4, 4, 9]), "offset_start": offsets_start, "offset_end": offsets_end,
        "context": ["ab cd ef", "", "gh ij"], "golds": [["ef", "cd ef"], [], [""]],
        "input_ids": torch.ones(3, 5, dtype=torch.long), "start_positions": torch.tensor([0, 3, 0]),
        "end_positions": torch.tensor([0, 3, 0]),
    }  # fmt: skip
    start = torch.tensor([[1.0, 0, 2, 0, 0], [0.0, 0, 1, 4, 0], [3.0, 0, 1, 0, 0]])
    end = torch.tensor([[1.0, 0, 0, 1, 0], [0.5, 0, 0, 4, 0], [3.0, 0, 1, 0, 0]])
    return batch, start, end


def test_eval_step_scores_whole_questions(qa_module: QuestionAnsweringModule, monkeypatch: pytest.MonkeyPatch) -> None:
    batch, start, end = batch_of_windows()
    monkeypatch.setattr(qa_module, "forward", lambda _: SimpleNamespace(start_logits=start, end_logits=end))
    qa_module.val_store.reset()
    qa_module.eval_step(batch, "val")
    got = qa_module.val_store.compute()
    # question 4: window 0 best (2, 3) = 2 + 1 = 3; window 1 best (3, 3) = 4 + 4 = 8 -> "ef" (chars 6..8), EM 1;
    # null = min(1 + 1, 0 + 0.5) = 0.5, diff 0.5 - 8. Question 9: best (2, 2) = 2 -> "gh" for an unanswerable
    # question (EM 0); null 3 + 3 = 6, diff 4.
    assert got["example"].tolist() == [4, 9]
    assert got["em"].tolist() == [1.0, 0.0] and got["f1"].tolist() == [1.0, 0.0]
    assert got["diff"].tolist() == [-7.5, 4.0] and got["has_answer"].tolist() == [True, False]
    assert got["start"].tolist() == [6, 0] and got["end"].tolist() == [8, 2]
    qa_module.val_store.reset()


def test_the_threshold_is_saved_and_restored_with_checkpoints(qa_module: QuestionAnsweringModule) -> None:
    qa_module.set_threshold(-1.25)
    buffer = io.BytesIO()
    torch.save({"hyper_parameters": dict(qa_module.hparams)}, buffer)  # plain containers only
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    assert checkpoint["hyper_parameters"]["threshold"] == -1.25
    qa_module.set_threshold(0.0)
    qa_module.on_load_checkpoint(checkpoint)  # what trainer.test(ckpt_path=best) runs on the module after fit
    assert qa_module.threshold == -1.25 and qa_module.export_info()["threshold"] == -1.25
    assert qa_module.export_info()["version_2"] is True and qa_module.export_info()["max_answer_length"] == 3


def test_the_minilm_experiment_runs_on_synthetic_squad_rows(tiny: dict, tmp_path: Path) -> None:
    from src.train import train

    data = synthetic.write_splits(tmp_path / "data", 40, 10, seed=5)
    overrides = ["experiment=squad_minilm", *tiny_overrides(tiny["bert"], data, "debug=fdr")[1:], "data.splits=null"]
    metrics = train(compose_config(overrides, output_dir=tmp_path / "run"))
    assert {"test/loss", "test/exact_match", "test/f1"} <= set(metrics)
