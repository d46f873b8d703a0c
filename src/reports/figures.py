"""Matplotlib figures of the reports, readable at a glance (titles carry the headline number)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

BLUE, GREY, RED = "#2b6cb0", "#a0aec0", "#c53030"


def confusion_figure(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> Figure:
    """Counts, with each row (gold label) shaded by its share: readable for 2 or 9 classes."""
    n = len(labels)
    size = max(4.0, 0.6 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    totals = [max(sum(row), 1) for row in matrix]
    shares = [[v / totals[i] for v in row] for i, row in enumerate(matrix)]
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i][j]}", ha="center", va="center", fontsize=9 if n < 8 else 7,
                    color="white" if shares[i][j] > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(textwrap.fill(title, width=int(size * 8)))  # a long title is wider than a 2 x 2 matrix
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold row")
    fig.tight_layout()
    return fig


def curve_figure(curves: dict[str, tuple[Sequence[float], Sequence[float]]], kind: str, title: str) -> Figure:
    """ROC (x: false positive rate, y: true positive rate) or PR (x: recall, y: precision) curves."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for label, (x, y) in curves.items():
        ax.plot(x, y, label=label, linewidth=1.8)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], linestyle="--", color=GREY, linewidth=1, label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def bar_figure(counts: dict[str, float], title: str, xlabel: str, percent: bool = True) -> Figure:
    """Bars with their value (and share of the total when `percent`); long label sets get rotated names."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(counts) + 2), 3.6))
    bars = ax.bar(list(counts), list(counts.values()), color=BLUE)
    total = max(sum(counts.values()), 1)
    labels = [f"{v}\n{v / total:.0%}" if percent else f"{v}" for v in counts.values()]
    ax.bar_label(bars, labels=labels, fontsize=8)
    if len(counts) > 6:
        ax.tick_params(axis="x", rotation=45)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count" if percent else "value")
    ax.margins(y=0.2)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def histogram_figure(values: Sequence[int], limit: int | None, title: str, xlabel: str) -> Figure:
    """Length histogram; `limit` (max_length) drawn as a line, the share beyond it in the title."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.hist(values, bins=50, color=BLUE, alpha=0.85)
    if limit is not None:
        ax.axvline(limit, color=RED, linestyle="--", linewidth=1.5, label=f"max_length {limit}")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def scatter_figure(x: Sequence[float], y: Sequence[float], title: str, xlabel: str, ylabel: str) -> Figure:
    """Predicted (y) against gold (x), with the y = x diagonal: a perfect model lies on it."""
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    ax.scatter(x, y, s=8, alpha=0.4, color=BLUE, linewidths=0)
    low, high = min([*x, *y], default=0.0), max([*x, *y], default=1.0)
    ax.plot([low, high], [low, high], linestyle="--", color=GREY, linewidth=1, label="y = x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(textwrap.fill(title, width=60), fontsize=10)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
