"""Optimizer parameter groups, warmup schedule, step counting."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from src.models.optim import param_groups, training_steps, warmup_schedule


def test_no_weight_decay_on_biases_and_layernorm() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 3  # linear bias, LayerNorm weight and bias


def test_linear_warmup_then_decay_to_zero() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_schedule(opt, num_training_steps=100, warmup_ratio=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize(
    ("trainer", "expected"),
    [
        (dict(max_epochs=3, max_steps=-1, limit_train_batches=1.0, accumulate_grad_batches=1), 30),
        (dict(max_epochs=3, max_steps=-1, limit_train_batches=1.0, accumulate_grad_batches=4), 9),
        (dict(max_epochs=3, max_steps=7, limit_train_batches=1.0, accumulate_grad_batches=1), 7),
        (dict(max_epochs=3, max_steps=-1, limit_train_batches=4, accumulate_grad_batches=1), 12),
        (dict(max_epochs=2, max_steps=-1, limit_train_batches=0.5, accumulate_grad_batches=1), 10),
    ],
)
def test_training_steps_match_lightning_semantics(trainer: dict, expected: int) -> None:
    assert training_steps(SimpleNamespace(**trainer), batches_per_epoch=10) == expected
