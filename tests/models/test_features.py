"""A frozen encoder's outputs cached once (src/models/features.py): every head computes exactly what it computes
with the real encoder; the store gives each row its vectors back, padded like the batch."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import (
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from src.data.batching import ROW, FeatureCollator, PadCollator
from src.models.features import CachedEncoder, base_model, cached_features, encoder_fingerprint, encoder_replaced
from src.tasks.classification.module import ClassificationModule
from src.tasks.question_answering.module import QuestionAnsweringModule
from src.utils.errors import ConfigError
from tests.conftest import tiny_overrides

HEADS = [  # the head class, the positions it reads, the shape of its input ids
    (AutoModelForSequenceClassification, "first", (3, 9)),
    (AutoModelForMultipleChoice, "first", (3, 4, 9)),
    (AutoModelForTokenClassification, "all", (3, 9)),
    (AutoModelForQuestionAnswering, "all", (3, 9)),
]


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
@pytest.mark.parametrize(("head", "positions", "shape"), HEADS, ids=[h[0].__name__ for h in HEADS])
def test_every_head_on_cached_features_equals_the_real_encoder(
    kind: str, head: type, positions: str, shape: tuple, tiny: dict
) -> None:
    model = head.from_pretrained(tiny[kind]).eval()
    ids = torch.randint(5, 60, shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        real = model(input_ids=ids)
        hidden = base_model(model)(input_ids=ids.reshape(-1, shape[-1]))[0]  # (sequences, T, H)
        kept = hidden[:, :1] if positions == "first" else hidden
        features = kept.reshape(*shape[:-1], *kept.shape[1:])
        with encoder_replaced(model, CachedEncoder(getattr(base_model(model), "pooler", None)), features):
            cached = model(input_ids=ids)
    for name in (k for k in real if k.endswith("logits")):
        assert torch.equal(real[name], cached[name]), name
    assert base_model(model) is getattr(model, model.base_model_prefix)  # the real encoder is back


def test_the_store_gives_each_row_its_vectors_padded_like_the_batch(tiny: dict, tmp_path: Path) -> None:
    model = AutoModelForTokenClassification.from_pretrained(tiny["bert"]).eval()
    rows = [[2, 7, 8, 9, 3], [2, 10, 3], [2, 11, 12, 3]]
    split = Dataset.from_dict({"input_ids": rows})
    collate = PadCollator(0)
    store = cached_features(model, split, tmp_path / "all", "all", collate, batch_size=2)
    first = cached_features(model, split, tmp_path / "first", "first", collate, batch_size=2)
    with torch.no_grad():
        alone = [base_model(model)(input_ids=torch.tensor([r]))[0][0] for r in rows]  # (T, H) each
    batch = FeatureCollator(collate, store)([{"input_ids": rows[i], ROW: i} for i in (2, 0)])
    assert batch["features"].shape == (2, 5, 32) and ROW not in batch
    assert torch.allclose(batch["features"][0, :4], alone[2], atol=1e-5) and not batch["features"][0, 4:].any()
    assert torch.allclose(first.gather([1], 3)[0, 0], alone[1][0], atol=1e-5)
    again = cached_features(model, split, tmp_path / "all", "all", collate, batch_size=3)  # built once: reused
    assert (tmp_path / "all" / "vectors.npy").stat().st_mtime_ns == (again.directory / "vectors.npy").stat().st_mtime_ns


def test_nested_rows_keep_one_first_vector_per_choice(tiny: dict, tmp_path: Path) -> None:
    model = AutoModelForMultipleChoice.from_pretrained(tiny["bert"]).eval()
    rows = [[[2, 7, 3], [2, 8, 9, 3]], [[2, 10, 3], [2, 11, 3], [2, 12, 13, 14, 3]]]
    store = cached_features(model, Dataset.from_dict({"input_ids": rows}), tmp_path / "f", "first", PadCollator(0), 2)
    gathered = store.gather([0, 1], length=5, sequences=3)
    assert gathered.shape == (2, 3, 1, 32) and not gathered[0, 2].any()  # the absent third choice: zeros
    with torch.no_grad():
        alone = base_model(model)(input_ids=torch.tensor([rows[1][2]]))[0][0, 0]
    assert torch.allclose(gathered[1, 2, 0], alone, atol=1e-5)


def test_the_cache_key_follows_the_encoders_weights(tiny: dict) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"])
    before = encoder_fingerprint(model)
    model.classifier.weight.data.add_(1.0)  # the head is not part of the key
    assert encoder_fingerprint(model) == before
    base_model(model).embeddings.word_embeddings.weight.data[5, 0] += 1.0
    assert encoder_fingerprint(model) != before


def test_a_frozen_encoder_stays_in_eval_mode_while_the_head_trains(tiny: dict) -> None:
    module = ClassificationModule(
        model={"pretrained": str(tiny["bert"]), "freeze_backbone": True}, label_names=["a", "b"]
    )
    module.train()
    assert not any(m.training for m in base_model(module.model).modules())  # no dropout in the frozen encoder
    assert module.model.classifier.training and module.model.dropout.training  # the head's own dropout stays
    unfrozen = ClassificationModule(model={"pretrained": str(tiny["bert"])}, label_names=["a", "b"]).train()
    assert base_model(unfrozen.model).training


class FirstPositionQA(QuestionAnsweringModule):
    feature_positions = "first"  # wrong: a span head reads every position


def test_a_head_reading_more_than_the_cached_positions_is_refused(tiny: dict, tmp_path: Path) -> None:
    module = FirstPositionQA(model={"pretrained": str(tiny["bert"]), "freeze_backbone": True})
    source = module.feature_source()
    rows = Dataset.from_dict({"input_ids": [[2, 7, 8, 9, 3], [2, 10, 3]]})
    with pytest.raises(ConfigError, match=r"reads more of the encoder's output than the 'first' positions.*"
                                          r"model.cache_features=false"):  # fmt: skip
        source("train", rows, tmp_path, PadCollator(0), 2)
    assert QuestionAnsweringModule(model={"pretrained": str(tiny["bert"])}).feature_source() is None  # not frozen
    source = QuestionAnsweringModule(model={"pretrained": str(tiny["bert"]), "freeze_backbone": True}).feature_source()
    store = source("train", rows, tmp_path / "qa", PadCollator(0), 2)  # "all": the check passes
    assert store.positions == "all" and store.directory == tmp_path / "qa" / source.key / "train"


def _metrics(run: Path) -> dict[str, float]:
    """Every val/test value the CSV logger wrote (last row that has it)."""
    out: dict[str, float] = {}
    for row in csv.DictReader(next(run.rglob("metrics.csv")).open()):
        out.update({k: float(v) for k, v in row.items() if v and k.startswith(("val/", "test/"))})
    return out


def test_frozen_training_on_cached_features_gives_the_uncached_metrics(
    tiny: dict, sentiment_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same frozen run with the encoder's outputs cached and run every step: the same metrics, class weights
    included; the cache lands next to the tokenized data and a second run reuses it."""
    from src.train import train
    from tests.conftest import compose_config

    common = ("model.freeze_backbone=true", "model.class_weights=balanced", "trainer.max_epochs=2", "logger=csv",
              "model.optimizer.lr=1e-2", "callbacks.reports=null", "export=false")  # fmt: skip
    runs = {}
    for cache in ("true", "false"):
        runs[cache] = tmp_path / cache
        caplog.clear()
        with caplog.at_level("INFO", logger="src.models.features"):
            overrides = [*tiny_overrides(tiny["bert"], sentiment_dir, *common), f"model.cache_features={cache}"]
            train(compose_config(overrides, output_dir=runs[cache]))
        assert ("Computing the frozen encoder's outputs once" in caplog.text) == (cache == "true")
    cached, uncached = _metrics(runs["true"]), _metrics(runs["false"])
    assert cached.keys() == uncached.keys() and "test/acc" in cached and "val/loss" in cached
    for name, value in uncached.items():  # the same predictions (one flipped would move acc/F1 by >= 5e-3); the
        # encoder's batches differ (length-sorted once vs shuffled), so float sums and AUROC's rank ties may move ~1e-4
        assert cached[name] == pytest.approx(value, rel=1e-4, abs=5e-4), name
    features = list(Path(os.environ["ENCODER_FT_CACHE"]).rglob("features/*/train/vectors.npy"))
    assert features, "the features are cached next to the tokenized data"
