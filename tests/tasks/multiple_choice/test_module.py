"""Multiple-choice module: a question with fewer choices, padded next to one with more, gets masked choices that never
win and leave its own probabilities and loss as they are alone; predictions are kept at a fixed width."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from src.data.batching import PadCollator
from src.tasks.multiple_choice.data import encode_choices
from src.tasks.multiple_choice.module import MultipleChoiceModule, masked_logits, present_choices

QUESTIONS = [("which is a fruit", ["drum", "cherry", "saw"], 1),
             ("which is a tool", ["horse", "tram", "wrench", "flute", "scarf"], 2)]  # fmt: skip


@pytest.fixture(scope="module")
def module(tiny: dict) -> MultipleChoiceModule:
    torch.manual_seed(0)
    return MultipleChoiceModule(model={"pretrained": str(tiny["bert"])}, max_choices=6).eval()


def batch_of(model_dir: Path, questions: list[tuple[str, list[str], int]]) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    enc = encode_choices(tokenizer, [q for q, _, _ in questions], [c for _, c, _ in questions], None, 64)
    golds = [gold for _, _, gold in questions]
    rows = [
        {"input_ids": enc.input_ids[i], "token_type_ids": enc.token_type_ids[i], "labels": gold, "idx": i}
        for i, gold in enumerate(golds)
    ]
    return PadCollator(tokenizer.pad_token_id)(rows)


def test_absent_choices_never_win_and_leave_the_others_unchanged(module: MultipleChoiceModule, tiny: dict) -> None:
    together = batch_of(tiny["bert"], QUESTIONS)
    assert together["input_ids"].shape[:2] == (2, 5) and not together["attention_mask"][0, 3:].any()
    with torch.no_grad():
        loss, logits = module.loss_and_logits(together)  # (B, C)
        alone = [module.loss_and_logits(batch_of(tiny["bert"], [q])) for q in QUESTIONS]
    assert torch.isneginf(logits[0, 3:]).all() and torch.isfinite(logits[0, :3]).all() and logits.dtype == torch.float32
    probs = logits.softmax(-1)
    assert probs[0, 3:].eq(0).all() and probs.argmax(-1)[0] < 3
    for row, (_, alone_logits) in enumerate(alone):
        n = alone_logits.shape[1]
        torch.testing.assert_close(probs[row, :n], alone_logits.softmax(-1)[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(loss, (alone[0][0] + alone[1][0]) / 2, atol=1e-5, rtol=0)


def test_training_through_masked_choices_keeps_gradients_finite(tiny: dict) -> None:
    torch.manual_seed(0)
    module = MultipleChoiceModule(model={"pretrained": str(tiny["bert"])}, max_choices=5).train()
    loss, _ = module.loss_and_logits(batch_of(tiny["bert"], QUESTIONS))
    loss.backward()
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and torch.isfinite(loss)


def test_no_attention_mask_means_every_choice_is_present_and_nan_of_absent_ones_is_dropped() -> None:
    logits = torch.tensor([[0.5, float("nan"), 1.0]])
    assert present_choices({}, logits).all()
    mask = torch.tensor([[[1, 1], [0, 0], [1, 0]]])  # (B, C, T): the middle choice is absent
    masked = masked_logits(logits, present_choices({"attention_mask": mask}, logits))
    torch.testing.assert_close(masked.softmax(-1), F.softmax(torch.tensor([[0.5, float("-inf"), 1.0]]), -1))


def test_evaluation_keeps_fixed_width_predictions_and_counts_accuracy(module: MultipleChoiceModule, tiny: dict) -> None:
    with torch.no_grad():
        module.eval_step(batch_of(tiny["bert"], QUESTIONS), "val")
    kept = module.val_store.compute()
    assert kept["probs"].shape == (2, 6) and kept["n_choices"].tolist() == [3, 5] and kept["idx"].tolist() == [0, 1]
    torch.testing.assert_close(kept["probs"].sum(-1), torch.ones(2))
    right = (kept["probs"].argmax(-1) == kept["labels"]).float().mean()
    torch.testing.assert_close(module.val_metrics.compute()["val/acc"], right)
    assert module.export_info() == {"task": "multiple_choice", "context": False, "max_choices": 6}
    with pytest.raises(ValueError, match="built for at most 2"):
        MultipleChoiceModule(model={"pretrained": str(tiny["bert"])}, max_choices=2).eval_step(
            batch_of(tiny["bert"], QUESTIONS), "val"
        )
    with pytest.raises(KeyError, match="no label set"):
        MultipleChoiceModule(model={"pretrained": str(tiny["bert"])}, max_choices=2, class_weights=[1.0, 2.0])
