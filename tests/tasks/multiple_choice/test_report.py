"""Multiple-choice report: accuracy by number of choices and by gold position, the most confident mistakes with
their texts, and the data section's figures."""

from __future__ import annotations

import math

import torch
from datasets import Dataset

from src.tasks.multiple_choice import report

SPLIT = Dataset.from_dict({
    "question": ["which is a fruit", "which is a tool", "which is a garment", "which is a animal"],
    "choices": [["drum", "cherry", "saw"], ["horse", "tram", "wrench", "flute", "scarf"], ["boot", "saw", "tram"],
                ["tiger", "apple", "drum", "jacket"]],
    "labels": [1, 2, 0, 0],
})  # fmt: skip
PREDICTIONS = {  # probabilities padded to 5 choices, rows in another order than the split (idx)
    "probs": torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0], [0.2, 0.7, 0.1, 0.0, 0.0], [0.1, 0.1, 0.6, 0.1, 0.1],
                           [0.3, 0.3, 0.4, 0.0, 0.0]]),
    "labels": torch.tensor([0, 1, 2, 0]),
    "n_choices": torch.tensor([4, 3, 5, 3]),
    "idx": torch.tensor([3, 0, 1, 2]),
}  # fmt: skip


def test_accuracy_by_number_of_choices_and_by_gold_position() -> None:
    by_choices = report.by_choices_table(PREDICTIONS)
    assert by_choices.to_dict("records") == [
        {"choices": 3, "questions": 2, "accuracy": 0.5, "chance": 1 / 3},
        {"choices": 4, "questions": 1, "accuracy": 0.0, "chance": 0.25},
        {"choices": 5, "questions": 1, "accuracy": 1.0, "chance": 0.2},
    ]
    by_gold = report.by_gold_index_table(PREDICTIONS).set_index("gold index")
    assert by_gold["questions"].tolist() == [2, 1, 1, 0, 0]
    assert (
        by_gold.loc[0, "accuracy"] == 0.0
        and by_gold.loc[1, "accuracy"] == 1.0
        and math.isnan(by_gold.loc[3, "accuracy"])
    )
    assert by_gold["predicted share"].tolist() == [0.0, 0.25, 0.5, 0.25, 0.0]


def test_hardest_mistakes_come_first_with_their_texts() -> None:
    table = report.hardest_table(PREDICTIONS, SPLIT, 5)
    assert table["question"].tolist() == [
        "which is a animal",
        "which is a garment",
    ]  # both at 0.4: ties keep their order
    first = table.iloc[0]
    assert (first["gold"], first["predicted"], first["probability"], first["gold probability"]) == (
        "tiger",
        "jacket",
        0.4,
        0.1,
    )
    assert first["choices"] == "0: tiger | 1: apple | 2: drum | 3: jacket"
    assert report.hardest_table(PREDICTIONS, SPLIT, 1).shape[0] == 1


def test_sections_and_console_summary() -> None:
    section = report.eval_section("test", PREDICTIONS, SPLIT, {"context": False}, 3)
    assert set(section.tables) == {"accuracy_by_choices", "accuracy_by_gold_index", "hardest"}
    assert "overall 50.0%" in section.figures["accuracy_by_gold_index"].axes[0].get_title()
    section.close()
    train = SPLIT.add_column("n_choices", [3, 5, 3, 4]).add_column("length", [7, 9, 8, 8])
    data = report.data_section(train.add_column("truncated", [False, True, False, False]), {"context": False}, 64)
    assert set(data.figures) == {"choices_per_question", "gold_index", "token_lengths"}
    assert "25.0% cut" in data.figures["token_lengths"].axes[0].get_title()
    data.close()
    text = report.console_summary(PREDICTIONS)
    assert "test accuracy by number of choices" in text and "test accuracy by gold answer position" in text
