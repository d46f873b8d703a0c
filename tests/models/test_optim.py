"""Optimizer parameter groups, warmup schedule, step counting."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from src.models.optim import param_groups, training_steps, warmup_schedule


def test_no_weight_decay_on_biases_and_layernorm() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(model)
    assert "weight_decay" not in decay and no_decay["weight_decay"] == 0.0  # decay: the optimizer's own setting
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 3  # linear bias, LayerNorm weight and bias
    adamw = torch.optim.AdamW(param_groups(model), weight_decay=0.01)
    assert [g["weight_decay"] for g in adamw.param_groups] == [0.01, 0.0]


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


def test_weight_decay_is_chosen_by_name_so_flat_fsdp_shards_keep_it(tiny: dict) -> None:
    """FSDP presents parameters as 1-D shards: decay must not depend on ndim. Names and module types decide."""
    from transformers import AutoModelForSequenceClassification

    from src.models.optim import no_decay_names

    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"], num_labels=2)
    exempt = no_decay_names(model)
    assert "bert.embeddings.LayerNorm.weight" in exempt and "classifier.bias" in exempt
    assert "bert.encoder.layer.0.attention.self.query.weight" not in exempt
    with torch.no_grad():  # flatten every parameter, as FSDP's flat shards look from outside
        for param in model.parameters():
            param.data = param.data.flatten()
    decay, no_decay = param_groups(model)
    assert sum(p.numel() for p in decay["params"]) > 0.9 * sum(p.numel() for p in model.parameters())
    assert {id(p) for p in no_decay["params"]} == {id(p) for n, p in model.named_parameters() if n in exempt}


def test_clipping_uses_fsdps_own_norm_and_lightning_otherwise() -> None:
    """Lightning's FSDP precision plugin refuses norm clipping: the wrapped model's clip_grad_norm_ is used."""
    from src.models.optim import clip_gradients

    calls = []

    class Wrapped:  # what trainer.strategy.model is under FSDP
        def clip_grad_norm_(self, value: float) -> torch.Tensor:
            calls.append(("fsdp", value))
            return torch.tensor(3.0)

    class Module:
        def __init__(self, wrapped: object) -> None:
            self.trainer = SimpleNamespace(strategy=SimpleNamespace(model=wrapped))

        def clip_gradients(self, optimizer: object, gradient_clip_val: float, gradient_clip_algorithm: str) -> None:
            calls.append(("lightning", gradient_clip_val, gradient_clip_algorithm))

    assert clip_gradients(Module(Wrapped()), None, 1.0, "norm") == 3.0
    clip_gradients(Module(Wrapped()), None, 0.5, "value")  # value clipping: Lightning's path
    clip_gradients(Module(object()), None, 1.0, None)  # DDP / single device: Lightning's path
    assert clip_gradients(Module(Wrapped()), None, None, None) is None  # no clipping configured
    assert calls == [("fsdp", 1.0), ("lightning", 0.5, "value"), ("lightning", 1.0, None)]
