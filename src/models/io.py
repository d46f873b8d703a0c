"""What a task's model reads and returns, by axis name.

One description serves every place that must not assume "(batch, sequence) in, logits out": the predictor
cuts each row's outputs by it, the ONNX export names its dynamic axes by it and its parity check compares
the outputs it lists. A task with another shape (multiple choice: `(batch, choice, sequence)` in; question
answering: `start_logits` and `end_logits` out) declares it in `Task.model_io` and needs no shared edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

TOKEN_AXIS = "sequence"  # the innermost input axis: tokens


@dataclass(frozen=True)
class ModelIO:
    """Inputs: `input_ids` and `attention_mask` (and `token_type_ids` when `token_types` and the tokenizer makes
    them), all of shape `input_axes`. Outputs: name -> axes; an axis that is not an input axis (`label`) has the
    size the head gives it."""

    input_axes: tuple[str, ...] = ("batch", TOKEN_AXIS)
    outputs: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"logits": ("batch", "label")})
    token_types: bool = False  # pairs: segment ids are part of the input (BERT-style tokenizers only)

    def input_names(self, tokenizer_inputs: Sequence[str]) -> tuple[str, ...]:
        """The model's (and the ONNX graph's) inputs for a tokenizer with these `model_input_names`."""
        types = ("token_type_ids",) if self.token_types and "token_type_ids" in tokenizer_inputs else ()
        return ("input_ids", "attention_mask", *types)

    def extents(self, input_ids: Any) -> dict[str, int]:
        """Size of every input axis but the batch in one row's (nested) `input_ids`: the longest at each depth."""
        sizes: dict[str, int] = {}
        level = [input_ids]
        for axis in self.input_axes[1:]:
            sizes[axis] = max((len(x) for x in level), default=0)
            level = [y for x in level for y in x] if axis != self.input_axes[-1] else []
        return sizes

    def cut(self, output: torch.Tensor, axes: tuple[str, ...], extents: Mapping[str, int]) -> torch.Tensor:
        """One row of a batched output (its batch axis removed) without the padding of the batch: every axis the
        output shares with the input is cut to the row's own extent."""
        for dim, axis in enumerate(axes[1:]):
            if axis in extents:
                output = output.narrow(dim, 0, min(extents[axis], output.shape[dim]))
        return output

    def valid(self, attention_mask: torch.Tensor, axes: tuple[str, ...]) -> torch.Tensor:
        """Which leading positions of an output of `axes` hold real (not padded) inputs: the attention mask reduced
        over the input axes the output lacks (any real token). Its shape is the output's leading shared axes."""
        mask = attention_mask.bool()
        for dim in reversed(range(len(self.input_axes))):
            if self.input_axes[dim] not in axes:
                mask = mask.any(dim)
        return mask
