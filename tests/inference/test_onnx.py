"""src/export.py and backend=onnx: parity with PyTorch, same predictions, clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.inference.predictor import Settings
from src.tasks import load_predictor
from src.tasks.classification.synthetic import sentiment_rows
from src.tasks.ner.synthetic import ner_rows
from tests.conftest import compose_config

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

TEXTS = [r["text"] for r in sentiment_rows(12, seed=4)]


@pytest.fixture(scope="session")
def sentiment_onnx(sentiment_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The CLI export of the tiny text classifier into <model_dir>/model.onnx; (path, printed summary).

    In-process through the same Hydra config as `python src/export.py` (a subprocess would add ~10 s of imports;
    the predict CLI test covers the entry-point wiring)."""
    from contextlib import redirect_stdout
    from io import StringIO

    from src.export import export

    cfg = compose_config([f"model_dir={sentiment_model}"], "export", tmp_path_factory.mktemp("export-run"))
    with redirect_stdout(StringIO()) as printed:
        export(cfg)
    return sentiment_model / "model.onnx", printed.getvalue()


@pytest.fixture(scope="session")
def ner_onnx(ner_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """In-process export of the tiny NER model to a file outside the model dir (output=)."""
    from src.export import export

    out = tmp_path_factory.mktemp("ner-onnx") / "tagger.onnx"
    cfg = compose_config([f"model_dir={ner_model}", f"output={out}"], "export", tmp_path_factory.mktemp("run"))
    return export(cfg)


def test_onnx_predictions_equal_torch(sentiment_onnx: tuple[Path, str], sentiment_model: Path) -> None:
    for settings in ({"batch_size": 5}, {"max_length": 16, "long_text": "window", "stride": 4}):
        torch_records = load_predictor(sentiment_model, device="cpu", settings=Settings(**settings)).predict(
            [*TEXTS, ""]
        )
        onnx = load_predictor(sentiment_model, backend="onnx", device="cpu", settings=Settings(**settings))
        onnx_records = onnx.predict([*TEXTS, ""])
        assert onnx_records[-1] == {"error": "empty text"}
        for a, b in zip(torch_records[:-1], onnx_records[:-1], strict=True):
            assert a["label"] == b["label"] and a.get("windows") == b.get("windows")
            assert a["probs"]["pos"] == pytest.approx(b["probs"]["pos"], abs=1e-4)


def test_ner_export_parity_and_entities(ner_onnx: dict, ner_model: Path) -> None:
    assert ner_onnx["max_abs_diff"] < 1e-4
    texts = [" ".join(r["tokens"]) for r in ner_rows(20, seed=9)]
    settings = Settings(max_length=16, stride=4)  # long sentences take several windows
    expected = load_predictor(ner_model, device="cpu", settings=settings).predict(texts)
    got = load_predictor(ner_model, backend="onnx", onnx_path=ner_onnx["path"], device="cpu", settings=settings)
    got = got.predict(texts)
    assert sum(len(r["entities"]) for r in expected) >= 10
    for a, b in zip(expected, got, strict=True):
        assert [(e["type"], e["start"], e["end"]) for e in a["entities"]] == [
            (e["type"], e["start"], e["end"]) for e in b["entities"]
        ]
        assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=1e-4)


def test_onnx_backend_without_export_says_how_to_make_it(ner_model: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model.onnx does not exist. Fix: python src/export.py model_dir="):
        load_predictor(ner_model, backend="onnx", device="cpu")


def test_failed_parity_deletes_the_file(sentiment_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ONNX graph that computes something else than the model is caught and not kept."""
    import src.export

    class Shifted:  # an "ONNX session" whose logits are off by 0.5
        def __init__(self, path: Path, device: str) -> None:
            from transformers import AutoModelForSequenceClassification

            self.model = AutoModelForSequenceClassification.from_pretrained(sentiment_model).eval()

        def __call__(self, batch: dict) -> dict[str, torch.Tensor]:
            with torch.inference_mode():
                return {"logits": self.model(**batch).logits + 0.5}

    monkeypatch.setattr(src.export, "export_onnx", lambda model, path, *_, **__: Path(path).write_bytes(b"graph"))
    monkeypatch.setattr(src.export, "graph_axes", lambda path: {})
    monkeypatch.setattr(src.export, "OnnxSession", Shifted)
    out = tmp_path / "wrong.onnx"
    cfg = compose_config([f"model_dir={sentiment_model}", f"output={out}"], "export", tmp_path / "run")
    with pytest.raises(
        RuntimeError, match=r"ONNX parity check failed: outputs differ from PyTorch by 0.5 .* was deleted"
    ):
        src.export.export(cfg)
    assert not out.exists()
