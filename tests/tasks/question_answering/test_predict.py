"""Predictions of an exported QA model (a tiny random one): records equal an exhaustive span search over the
raw logits, v2's no-answer records follow the threshold, bad inputs get clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from src.inference.predictor import Settings
from src.tasks import load_predictor
from src.utils.errors import ConfigError

LONG = " ".join(f"The {c} car is new." for c in ["red", "blue", "green", "black", "white", "brown"])
INPUTS = [
    {"question": "Who owns the blue boat?", "context": "The red car is old. The blue boat belongs to bob smith."},
    {"question": "  Who owns the grey piano?", "context": LONG + " The grey piano belongs to heidi."},
]
INFO = {
    "task": "question_answering",
    "version_2": False,
    "max_length": 32,
    "doc_stride": 8,
    "max_answer_length": 6,
    "n_best": 64,
}  # fmt: skip (n_best above the window length: every start and end is a candidate)


@pytest.fixture(scope="module")
def model_dir(tiny: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with a random span head, exported as train.py does (config.json's `finetune`)."""
    out = tmp_path_factory.mktemp("qa_model")
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny["bert"])
    model.config.finetune = INFO
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny["bert"]).save_pretrained(out)
    return out


def with_info(model_dir: Path, **info: object) -> Path:
    config = json.loads((model_dir / "config.json").read_text())
    config["finetune"] = {**INFO, **info}
    (model_dir / "config.json").write_text(json.dumps(config))
    return model_dir


def exhaustive(model_dir: Path, row: dict) -> dict:
    """The best span over every window by brute force: every context (start, end) pair up to max_answer_length,
    ranked by start + end logit; its probability as the question-answering pipeline computed it."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    enc = tokenizer(row["question"].lstrip(), row["context"], truncation="only_second", max_length=32, stride=8,
                    return_overflowing_tokens=True, return_offsets_mapping=True)  # fmt: skip
    best = None
    for w in range(len(enc["input_ids"])):
        with torch.no_grad():
            out = model(**{k: torch.tensor([enc[k][w]]) for k in ("input_ids", "token_type_ids")})
        start, end = out.start_logits[0], out.end_logits[0]
        context = [k for k, s in enumerate(enc.sequence_ids(w)) if s == 1]
        allowed = torch.full_like(start, float("-inf"))
        allowed[[0, *context]] = 0
        p_start, p_end = (start + allowed).softmax(-1), (end + allowed).softmax(-1)
        for s in context:
            for e in context:
                if s <= e < s + 6 and (best is None or start[s] + end[e] > best[0]):
                    offsets = enc["offset_mapping"][w]
                    best = (float(start[s] + end[e]), offsets[s][0], offsets[e][1], float(p_start[s] * p_end[e]))
    _, begin, finish, score = best
    return {"answer": row["context"][begin:finish], "start": begin, "end": finish, "score": score}


def test_records_are_the_best_span_over_all_windows(model_dir: Path) -> None:
    predictor = load_predictor(with_info(model_dir), device="cpu")
    assert [f.name for f in predictor.fields] == ["question", "context"]
    assert len(predictor.task.encode(predictor, INPUTS[1:]).sequences) > 1  # the long context needs windows
    records = predictor.predict(INPUTS)
    for row, record in zip(INPUTS, records, strict=True):
        expected = exhaustive(model_dir, row)
        assert {k: record[k] for k in ("answer", "start", "end")} == {
            k: expected[k] for k in ("answer", "start", "end")
        }
        assert record["score"] == pytest.approx(expected["score"], abs=1e-5)
        assert record["answer"] == row["context"][record["start"] : record["end"]]


def test_v2_model_answers_no_answer_when_the_null_score_wins_by_the_threshold(model_dir: Path) -> None:
    answered = load_predictor(with_info(model_dir, version_2=True, threshold=1e9), device="cpu").predict(INPUTS)
    assert [r["answer"] for r in answered] == [exhaustive(model_dir, row)["answer"] for row in INPUTS]
    refused = load_predictor(with_info(model_dir, version_2=True, threshold=-1e9), device="cpu").predict(INPUTS)
    assert all(r["answer"] == "" and r["no_answer"] is True and 0 < r["score"] <= 1 for r in refused)
    with_info(model_dir)


def test_missing_fields_empty_texts_and_long_questions(model_dir: Path) -> None:
    predictor = load_predictor(with_info(model_dir), device="cpu")
    with pytest.raises(ConfigError, match=r"reads question, context; input 0 has no 'context' \(the text holding"):
        predictor.predict([{"question": "Who owns the car?"}])
    long_question = "Who owns the " + "very " * 30 + "red car?"
    records = predictor.predict([{"question": "Who?", "context": "  "}, {"question": long_question, "context": LONG},
                                 INPUTS[0]])  # fmt: skip
    assert records[0] == {"error": "empty context"}
    assert "leaves no room for context in windows of max_length=32 sharing doc_stride=8" in records[1]["error"]
    assert "Fix: max_length>=" in records[1]["error"] and "answer" in records[2]


def test_max_length_on_the_command_line_replaces_the_training_one(model_dir: Path) -> None:
    trained = load_predictor(with_info(model_dir), device="cpu")
    wider = load_predictor(model_dir, device="cpu", settings=Settings(max_length=64))
    assert len(trained.task.encode(trained, INPUTS[1:]).sequences) > len(wider.task.encode(wider, INPUTS[1:]).sequences)
