"""src/predict.py and src/inference: records, order, batching, long texts, NER entities, input files, errors."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import torch

from src.inference.inputs import InputFileError, read_texts
from src.inference.predictor import Predictor, Settings
from src.tasks import load_predictor
from src.tasks.classification.synthetic import sentiment_rows
from src.tasks.ner.synthetic import ner_rows
from src.tasks.words.predict import tag_words
from tests.conftest import compose_config, run_cli

TEXTS = [r["text"] for r in sentiment_rows(9, seed=3)]  # 5 to 60+ words: several lengths


def predictor(model_dir: Path, **settings: object) -> Predictor:
    return load_predictor(model_dir, device="cpu", settings=Settings(**settings))


def model_probs(model_dir: Path, sequences: list[list[int]]) -> torch.Tensor:
    """Softmax of the model on each sequence alone (no batching, no padding): the reference."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return torch.stack([model(input_ids=torch.tensor([s])).logits[0].softmax(-1) for s in sequences])


# ------------------------------------------------------------------------------ text classification
def test_records_match_the_model_in_input_order(sentiment_model: Path) -> None:
    p = predictor(sentiment_model, batch_size=4)
    records = p.predict(TEXTS)
    expected = model_probs(sentiment_model, p.tokenizer(TEXTS)["input_ids"])
    for record, probs in zip(records, expected, strict=True):
        assert record["probs"]["neg"] == pytest.approx(float(probs[0]), abs=1e-5)
        assert record["label"] == ["neg", "pos"][int(probs.argmax())]
        assert record["score"] == max(record["probs"].values())
    assert len({r["label"] for r in records}) == 2  # the head is far from uniform: order mistakes would show


def test_a_model_with_nan_weights_gets_error_records_never_nan(sentiment_model: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from src.predict import predict

    broken = AutoModelForSequenceClassification.from_pretrained(sentiment_model)
    with torch.no_grad():
        broken.classifier.weight.fill_(float("nan"))
    broken.save_pretrained(tmp_path / "model")
    AutoTokenizer.from_pretrained(sentiment_model).save_pretrained(tmp_path / "model")
    source = write(tmp_path / "in.txt", "\n".join(TEXTS[:3]))
    cfg = compose_config([f"model_dir={tmp_path / 'model'}", f"input={source}", "progress=false"], "predict", tmp_path)
    records = predict(cfg)
    assert all(r["error"].startswith("the model's output is not finite") for r in records)
    for line in (tmp_path / "predictions.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in the output"))  # strict JSON: no NaN


def test_batches_are_sorted_by_length_and_equal_unbatched(sentiment_model: Path) -> None:
    p = predictor(sentiment_model, batch_size=3)
    widths = []
    forward = p.forward

    def spy(batch: dict) -> torch.Tensor:
        mask = batch.get("attention_mask", torch.ones_like(batch["input_ids"]))  # absent: nothing padded
        widths.append((batch["input_ids"].shape[1], int(mask.sum(1).min())))
        return forward(batch)

    p.forward = spy
    batched = p.predict(TEXTS)
    assert [w for w, _ in widths] == sorted((w for w, _ in widths), reverse=True)
    assert all(shortest >= next_width for (_, shortest), (next_width, _) in itertools.pairwise(widths))
    single = predictor(sentiment_model, batch_size=1).predict(TEXTS)
    for a, b in zip(batched, single, strict=True):
        assert a["label"] == b["label"] and a["probs"]["pos"] == pytest.approx(b["probs"]["pos"], abs=1e-5)


def test_empty_texts_get_error_records_and_the_rest_succeeds(sentiment_model: Path) -> None:
    p = predictor(sentiment_model, batch_size=2)
    records = p.predict([TEXTS[0], "", "   \t", TEXTS[1]])
    assert records[1] == records[2] == {"error": "empty text"}
    for record, alone in zip([records[0], records[3]], p.predict(TEXTS[:2]), strict=True):
        assert record["label"] == alone["label"] and record["score"] == pytest.approx(alone["score"], abs=1e-5)
    assert p.predict(["", " "]) == [{"error": "empty text"}] * 2


def test_truncate_head_and_head_tail(sentiment_model: Path) -> None:
    text = " ".join(TEXTS)  # far longer than max_length=16
    for mode in ("head", "head+tail"):
        p = predictor(sentiment_model, max_length=16, truncation=mode, head_tokens=5)
        ids = p.tokenizer(text, add_special_tokens=False)["input_ids"]
        kept = ids[:14] if mode == "head" else ids[:5] + ids[-9:]
        record = p.predict([text])[0]
        expected = model_probs(sentiment_model, [p.prefix + kept + p.suffix])[0]
        assert record["truncated"] is True and record["probs"]["pos"] == pytest.approx(float(expected[1]), abs=1e-5)


def test_window_mode_averages_windows_covering_the_text(sentiment_model: Path) -> None:
    text = " ".join(TEXTS[:3])
    p = predictor(sentiment_model, max_length=16, long_text="window", stride=4)
    ids = p.tokenizer(text, add_special_tokens=False)["input_ids"]
    starts = [0]  # windows of 16 - 2 specials = 14 tokens, sharing stride=4: one every 10 tokens
    while starts[-1] + 14 < len(ids):
        starts.append(starts[-1] + 10)
    record = p.predict([text, TEXTS[0][:20]])
    expected = model_probs(sentiment_model, [p.prefix + ids[s : s + 14] + p.suffix for s in starts]).mean(0)
    assert record[0]["windows"] == len(starts) > 1
    assert record[0]["probs"]["pos"] == pytest.approx(float(expected[1]), abs=1e-5)
    assert record[1]["windows"] == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"long_text": "chunks"}, "long_text='chunks'"),
        ({"truncation": "middle"}, "truncation='middle'"),
        ({"max_length": 16, "long_text": "window", "stride": 7}, "stride=7"),
        ({"max_length": 4096}, "max_length<=128"),
        ({"batch_size": 0}, "batch_size=0"),
    ],
)
def test_bad_settings_name_the_key(sentiment_model: Path, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        predictor(sentiment_model, **settings)


def test_default_max_length_respects_position_embeddings(sentiment_model: Path, roberta_ner_model: Path) -> None:
    assert predictor(sentiment_model).max_length == 128  # tokenizer 128, BERT positions 128
    assert predictor(roberta_ner_model).max_length == 128  # RoBERTa: 130 positions, 2 unusable


def test_not_a_classifier_directory(tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"architecture BertModel fits none of the tasks"):
        load_predictor(tiny["bert"], device="cpu")  # a bare encoder: no head
    with pytest.raises(FileNotFoundError, match="model_dir="):
        load_predictor(tmp_path / "missing", device="cpu")


# ------------------------------------------------------------------------------ NER
def ner_sentences(n: int, seed: int) -> list[str]:
    return [" ".join(r["tokens"]) for r in ner_rows(n, seed)]


def test_ner_matches_the_simple_aggregation_pipeline(ner_model: Path) -> None:
    """Same entities as transformers' pipeline(aggregation_strategy="simple") where words are single tokens.

    The pipeline tags every sub-token and groups them; we tag each word by its first sub-token (the one
    trained). On one-token words the two must agree exactly: type, offsets and score.
    """
    from transformers import pipeline

    p = predictor(ner_model)
    texts = [t for t in ner_sentences(30, seed=11) if len(p.tokenizer.tokenize(t)) == len(t.split())]
    assert len(texts) >= 20
    tagger = pipeline("token-classification", model=str(ner_model), aggregation_strategy="simple", device="cpu")
    ours, theirs = p.predict(texts), tagger(texts)
    assert sum(len(r["entities"]) for r in ours) >= 20  # trained: the comparison is not vacuous
    for text, mine, reference in zip(texts, ours, theirs, strict=True):
        assert [(e["type"], e["start"], e["end"]) for e in mine["entities"]] == [
            (e["entity_group"], e["start"], e["end"]) for e in reference
        ], text
        assert [e["score"] for e in mine["entities"]] == pytest.approx([float(e["score"]) for e in reference], 1e-5)


def test_ner_entity_offsets_slice_the_original_text(ner_model: Path, roberta_ner_model: Path) -> None:
    texts = ["Alice  Smith met\tBob in Paris, at Acme's office!", *ner_sentences(10, seed=5)]
    for model_dir in (ner_model, roberta_ner_model):
        records = predictor(model_dir).predict(texts)
        entities = [(text, e) for text, r in zip(texts, records, strict=True) for e in r["entities"]]
        assert len(entities) >= 5
        for text, e in entities:
            assert text[e["start"] : e["end"]] == e["text"] == e["text"].strip() != ""
            assert e["type"] in {"PER", "LOC", "ORG"} and 0 < e["score"] <= 1


def test_ner_long_text_is_tagged_in_every_window(ner_model: Path) -> None:
    text = " ".join(ner_sentences(12, seed=2))
    p = predictor(ner_model, max_length=16, stride=4)
    ((layout, probs),) = tag_words(p, [text])
    assert len(layout.starts) > 5 and set(layout.owners) == set(range(len(layout.starts)))
    assert probs.shape == (len(text.split()), len(p.labels))  # every word has a prediction
    # each word is read in its owner window: the probabilities of that window run alone
    ids = p.tokenizer(text, add_special_tokens=False)["input_ids"]
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(ner_model).eval()
    for word in (0, len(layout.first) // 2, len(layout.first) - 1):
        start = layout.starts[layout.owners[word]]
        window = p.prefix + ids[start : start + p.budget] + p.suffix
        with torch.inference_mode():
            alone = model(input_ids=torch.tensor([window])).logits[0].softmax(-1)
        assert torch.allclose(probs[word], alone[len(p.prefix) + layout.first[word] - start], atol=1e-5)
    entities = p.predict([text])[0]["entities"]
    assert entities[-1]["start"] > len(text) // 2  # entities are found past the first windows too


# ------------------------------------------------------------------------------ input files
def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_read_txt_csv_jsonl(tmp_path: Path) -> None:
    assert read_texts(write(tmp_path / "a.txt", "\ufeffone\r\n\r\ntwo\n")) == ["one", "", "two"]
    csv_text = 'id,review\n1,"multi\nline, quoted"\n2,\n3,plain\n'
    assert read_texts(write(tmp_path / "a.csv", csv_text), "review") == ["multi\nline, quoted", "", "plain"]
    jsonl = '{"text": "a"}\n\n{"text": null, "x": 1}\n{"text": "b"}\n'
    assert read_texts(write(tmp_path / "a.jsonl", jsonl)) == ["a", "", "b"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", r"empty.txt: the file is empty"),
        ("blank.jsonl", "\n \n", r"blank.jsonl: the file is empty"),
        ("header.csv", "text\n", r"header.csv: a header but no rows"),
        ("cols.csv", "review,label\nok,1\n", r"cols.csv: no column 'text'; the header has \['review', 'label'\]"),
        ("latin.txt", "fine\nalso fine\ncaf\xe9\n".encode("latin-1"), r"latin.txt:3: not valid UTF-8"),
        ("latin.csv", "text\ncaf\xe9\n".encode("latin-1"), r"latin.csv:2: not valid UTF-8"),
        ("unclosed.csv", 'text\n"open, never closed\nnext\n', r"unclosed.csv:2: malformed CSV \(unexpected end"),
        ("quote.csv", 'text\nfine\n"a"b\n', r"quote.csv:3: malformed CSV \(',' expected after '\"'\)"),
        ("bad.jsonl", '{"text": "a"}\n{"text": "b"\n', r"bad.jsonl:2: malformed JSON"),
        ("field.jsonl", '{"text": "a"}\n{"body": "b"}\n', r"field.jsonl:2: no field 'text' \(found fields \['body'\]"),
        ("list.jsonl", '["a"]\n', r"list.jsonl:1: no field 'text' \(found a JSON list\)"),
        ("number.jsonl", '{"text": 5}\n', r"number.jsonl:1: field 'text' is 5, not a string"),
        ("texts.parquet", "x", r"unsupported file type '.parquet'. Supported: .txt .*; .csv .*; .jsonl"),
    ],
)  # fmt: skip
def test_bad_input_files_name_file_and_line(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    with pytest.raises(InputFileError, match=message):
        read_texts(write(tmp_path / name, content))


def test_predict_file_to_run_dir_and_errors(sentiment_model: Path, tmp_path: Path) -> None:
    from src.predict import predict

    source = write(tmp_path / "in.jsonl", "\n".join(json.dumps({"text": t}) for t in [TEXTS[0], " ", TEXTS[1]]))
    cfg = compose_config([f"model_dir={sentiment_model}", f"input={source}", "progress=false"], "predict", tmp_path)
    records = predict(cfg)
    written = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert written == records and written[1] == {"error": "empty text"} and written[2]["label"] in {"neg", "pos"}
    for extra in ([], ["+fields.text=hello"]):
        overrides = [f"model_dir={sentiment_model}", *extra] + ([f"input={source}"] if extra else [])
        with pytest.raises(ValueError, match=r"exactly one of the input's fields .* \(text=\.\.\.\) or input="):
            predict(compose_config(overrides, "predict", tmp_path))
    with pytest.raises(InputFileError, match=r"in.csv: no column 'text'"):
        write(tmp_path / "in.csv", "body\nhello\n")
        predict(compose_config([f"model_dir={sentiment_model}", f"input={tmp_path / 'in.csv'}"], "predict", tmp_path))


def test_cli_text_prints_one_json_line(ner_model: Path, tmp_path: Path) -> None:
    text = "the film with Alice, Bob and Carol in Paris: it's [really] good"  # as typed: no Hydra quoting
    proc = run_cli("predict", f"model_dir={ner_model}", f"text={text}", f"hydra.run.dir={tmp_path / 'run'}")
    (line,) = proc.stdout.splitlines()  # logs go to stderr: stdout is only the predictions
    record = json.loads(line)
    assert record == predictor(ner_model).predict([text])[0] and record["entities"]
    assert "ner: 1 inputs" in proc.stderr and (tmp_path / "run" / "predict.log").is_file()


@pytest.mark.parametrize(
    "text",
    ["A moving, well acted film.", "It's great: (really) {x} [y] = 1", "back\\slash \\' end\\", "${oc.env:HOME} \\${x}",
     "a=b, c", '"quoted" in the middle'],
)  # fmt: skip
def test_field_arguments_arrive_unchanged(text: str, sentiment_model: Path, tmp_path: Path) -> None:
    from src.predict import field_arguments

    overrides = field_arguments([f"model_dir={sentiment_model}", f"text={text}"])
    assert compose_config(overrides, "predict", tmp_path).fields.text == text
    assert field_arguments(["text='already quoted, kept'"]) == ["+fields.text='already quoted, kept'"]
    assert field_arguments(["backend=onnx", "hydra.run.dir=x", "text_column=body", "-m"]) == [
        "backend=onnx", "hydra.run.dir=x", "+columns.text=body", "-m"
    ]  # fmt: skip


def test_pair_inputs_from_the_command_line_and_from_files(tmp_path: Path) -> None:
    """text= with text_pair= (both typed as-is), or a file's two columns; pairs in a .txt file are refused."""
    from src.inference.inputs import Field, read_inputs
    from src.predict import field_arguments, inputs_of

    pair = [Field("text"), Field("text_pair")]
    overrides = field_arguments(["model_dir=m", "text=A man, a plan: fine", "text_pair=It's {x} = 1"])
    assert inputs_of(compose_config(overrides, "predict", tmp_path), pair, "classification") == [
        {"text": "A man, a plan: fine", "text_pair": "It's {x} = 1"}
    ]
    source = write(tmp_path / "pairs.csv", "premise,hypothesis\nA dog runs.,An animal moves.\n")
    overrides = field_arguments(
        ["model_dir=m", f"input={source}", "text_column=premise", "text_pair_column=hypothesis"]
    )
    assert inputs_of(compose_config(overrides, "predict", tmp_path), pair, "classification") == [
        {"text": "A dog runs.", "text_pair": "An animal moves."}
    ]
    jsonl = write(tmp_path / "pairs.jsonl", '{"a": "x", "b": "y"}\n{"a": "z"}\n')
    with pytest.raises(InputFileError, match=r"pairs.jsonl:2: no field 'b' .*text_pair_column=<field name>"):
        read_inputs(jsonl, pair, {"text": "a", "text_pair": "b"})
    with pytest.raises(
        InputFileError, match=r"a .txt file holds one text per line, but this model reads text, text_pair"
    ):
        read_inputs(write(tmp_path / "t.txt", "x\n"), pair)
    with pytest.raises(ValueError, match=r"exactly one of the input's fields on the command line \(text=\.\.\. "):
        both = field_arguments(["model_dir=m", f"input={source}", "text_pair=x"])
        inputs_of(compose_config(both, "predict", tmp_path), pair, "classification")
    typo = r"bakend=\.\.\.: not an input field of this classification model .*config key \(backend, batch_size"
    with pytest.raises(ValueError, match=typo):
        inputs_of(compose_config(field_arguments(["model_dir=m", "text=a", "bakend=onnx"]), "predict", tmp_path),
                  pair, "classification")  # fmt: skip


def test_list_fields_from_the_command_line_json_lines_and_csv_columns(tmp_path: Path) -> None:
    """A list field (multiple choice's choices): a JSON array on the command line or in JSON lines, one CSV column
    per element (empty cells are absent elements: fewer choices), or a CSV cell holding a JSON array."""
    from src.inference.inputs import Field, read_inputs
    from src.predict import field_arguments, inputs_of

    fields = [Field("question"), Field("choices", many=True), Field("context", required=False)]
    cli = field_arguments(["model_dir=m", "question=Where, then?", 'choices=["a bank", "a river: wide"]'])
    assert inputs_of(compose_config(cli, "predict", tmp_path), fields, "mc") == [
        {"question": "Where, then?", "choices": ["a bank", "a river: wide"]}
    ]
    with pytest.raises(ValueError, match=r"choices='a, b': a list of texts is typed as a JSON array"):
        inputs_of(compose_config(field_arguments(["model_dir=m", "question=q", "choices=a, b"]), "predict", tmp_path),
                  fields, "mc")  # fmt: skip
    jsonl = write(tmp_path / "q.jsonl", '{"question": "q1", "choices": ["x", "y"], "context": "c"}\n{"question": "q2", '
                  '"choices": ["z", "w", "v"]}\n')  # fmt: skip
    assert read_inputs(jsonl, fields) == [
        {"question": "q1", "choices": ["x", "y"], "context": "c"},
        {"question": "q2", "choices": ["z", "w", "v"]},
    ]
    columns = write(tmp_path / "swag.csv", "q,e0,e1,e2\nq1,x,y,\nq2,z,w,v\n")
    assert read_inputs(columns, fields, {"question": "q", "choices": ["e0", "e1", "e2"]}) == [
        {"question": "q1", "choices": ["x", "y"]},
        {"question": "q2", "choices": ["z", "w", "v"]},
    ]
    cells = write(tmp_path / "cells.csv", 'question,choices\nq1,"[""x"", ""y""]"\nq2,not a list\n')
    with pytest.raises(InputFileError, match=r"cells.csv:3: column 'choices' holds 'not a list', not a JSON array"):
        read_inputs(cells, fields)
    with pytest.raises(InputFileError, match=r"q.jsonl:1: field 'choices' is 'x', not a list of strings"):
        read_inputs(write(tmp_path / "q.jsonl", '{"question": "q", "choices": "x"}\n'), fields)
