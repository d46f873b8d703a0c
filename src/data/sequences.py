"""Cutting token sequences to a model's length: the special-token framing, truncation, windows.

Training (the data modules) and prediction (src/tasks/*/predict.py) cut texts with these same functions,
so a model sees at prediction time exactly the kind of sequence it was trained on.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

TRUNCATION_MODES = ("head", "tail", "head+tail")


def special_framing(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """Special tokens the tokenizer puts before and after a single text: ([CLS], [SEP]) or ([<s>], [</s>])."""
    plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ValueError(f"Cannot locate the text inside {type(tokenizer).__name__}'s special-token template.")


def truncate(ids: list[int], budget: int, mode: str = "head", head_tokens: int = 128) -> list[int]:
    """Keep `budget` tokens: the start (head), the end (tail) or both ends (head+tail).

    head+tail keeps `head_tokens` from the start and the rest from the end, the best of the strategies
    Sun et al. (2019, "How to Fine-Tune BERT for Text Classification") compared on IMDB.
    """
    if len(ids) <= budget:
        return ids
    if mode == "head":
        return ids[:budget]
    if mode == "tail":
        return ids[-budget:]
    head = min(head_tokens, budget)
    return ids[:head] + (ids[-(budget - head) :] if budget > head else [])


def windows(n_tokens: int, budget: int, stride: int) -> list[int]:
    """Start offsets of windows of `budget` tokens covering `n_tokens`, consecutive ones sharing `stride`."""
    starts = [0]
    while starts[-1] + budget < n_tokens:
        starts.append(starts[-1] + budget - stride)
    return starts
