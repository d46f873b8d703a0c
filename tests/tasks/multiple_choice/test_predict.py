"""Multiple-choice predictions: every choice ranked by a probability (summing to 1 per question), the fields a model
reads (a context only for a model trained with one) and clear refusals of missing or extra fields."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMultipleChoice, AutoTokenizer

from src.inference.predictor import Settings, load_config
from src.tasks import get_task, load_predictor, task_for_model
from src.tasks.multiple_choice.predict import TIED, ranking

QUESTION = {"question": "which is a tool", "choices": ["horse", "tram", "wrench", "flute", "scarf"]}


@pytest.fixture(scope="module")
def model_dir(tiny: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained multiple-choice export (random head) with the record train.py writes."""
    out = tmp_path_factory.mktemp("mc_model")
    torch.manual_seed(0)
    model = AutoModelForMultipleChoice.from_pretrained(tiny["bert"])
    model.config.finetune = {"task": "multiple_choice", "context": False, "max_choices": 5}
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny["bert"]).save_pretrained(out)
    return out


def with_finetune(model_dir: Path, target: Path, finetune: dict | None) -> Path:
    shutil.copytree(model_dir, target)
    config = json.loads((target / "config.json").read_text())
    config.pop("finetune")
    (target / "config.json").write_text(json.dumps(config | ({"finetune": finetune} if finetune else {})))
    return target


def test_records_rank_every_choice_by_probability(model_dir: Path) -> None:
    predictor = load_predictor(model_dir, device="cpu")
    inputs = [{"question": "which is a fruit", "choices": ["drum", "cherry", "saw"]}, QUESTION]
    records = predictor.predict(inputs)
    for row, record in zip(inputs, records, strict=True):
        probs = [c["probability"] for c in record["choices"]]
        assert all(b <= a + TIED for a, b in itertools.pairwise(probs)) and sum(probs) == pytest.approx(1.0, abs=1e-6)
        assert sorted(c["index"] for c in record["choices"]) == list(range(len(row["choices"])))
        assert all(row["choices"][c["index"]] == c["choice"] for c in record["choices"])
        top = record["choices"][0]
        assert (record["answer"], record["index"], record["score"]) == (top["choice"], top["index"], top["probability"])
    assert records[1] == predictor.predict([QUESTION])[0]  # batching with a shorter question changes nothing


def test_missing_and_extra_fields_are_refused_and_short_rows_get_error_records(model_dir: Path, tmp_path: Path) -> None:
    predictor = load_predictor(model_dir, device="cpu")
    assert [f.name for f in predictor.fields] == ["question", "choices"]
    with pytest.raises(KeyError, match=r"input 0 has no 'choices' \(the candidate answers, at least 2\)"):
        predictor.predict([{"question": "which is a fruit"}])
    with pytest.raises(
        KeyError, match=r"reads the input fields \['question', 'choices'\]; input 0 also has \['context'\]"
    ):
        predictor.predict([{**QUESTION, "context": "at the zoo"}])
    with pytest.raises(KeyError, match="choices must be a list of texts"):
        predictor.predict([{"question": "which is a fruit", "choices": "cherry"}])
    records = predictor.predict([{"question": "which is a fruit", "choices": ["cherry"]}, QUESTION,
                                 {"question": "which is a fruit", "choices": []}])  # fmt: skip
    assert records[0] == {"error": "1 choice: a multiple-choice question needs at least 2"}
    assert records[2] == {"error": "empty choices"} and records[1]["answer"] in QUESTION["choices"]
    assert predictor.predict([{"question": "which is a fruit", "choices": ["cherry"]}]) == records[:1]
    contextual = load_predictor(
        with_finetune(model_dir, tmp_path / "ctx", {"task": "multiple_choice", "context": True})
    )
    assert [f.name for f in contextual.fields] == ["question", "choices", "context"]
    with pytest.raises(KeyError, match=r"input 0 has no 'context' \(the passage or dialogue"):
        contextual.predict([QUESTION])
    assert contextual.predict([{**QUESTION, "context": "at the workshop"}])[0]["index"] in range(5)


def test_settings_that_do_not_apply_are_refused_and_foreign_exports_are_recognised(
    model_dir: Path, tmp_path: Path
) -> None:
    from src.inference.predictor import Predictor

    task = get_task("multiple_choice")
    with pytest.raises(KeyError, match=r"long_text='window'.*Fix: long_text=truncate"):
        Predictor(model_dir, task, device="cpu", settings=Settings(long_text="window"))
    with pytest.raises(KeyError, match=r"truncation='tail'.*Fix: truncation=head"):
        Predictor(model_dir, task, device="cpu", settings=Settings(truncation="tail"))
    foreign = with_finetune(model_dir, tmp_path / "foreign", None)  # saved by another tool: no finetune record
    assert task_for_model(load_config(str(foreign)), "model_dir") is task


def test_ranking_orders_by_probability_and_float_noise_never_reorders_ties() -> None:
    probs = [0.1, 0.3 + TIED / 2, 0.3, 0.3 - 0.8 * TIED, 0.0]  # 1-3: a chain of ties, kept in input order
    assert ranking(probs) == [1, 2, 3, 0, 4] and ranking([0.2, 0.8]) == [1, 0]
    rng = random.Random(0)
    for _ in range(20):  # what another backend or batch changes: ~1e-7
        assert ranking([p + rng.uniform(-1e-7, 1e-7) for p in probs]) == [1, 2, 3, 0, 4]
