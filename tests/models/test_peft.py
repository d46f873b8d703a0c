"""LoRA adapters by config (`model.peft`, src/models/peft.py): the config group and its checks, the default
targets and the fully trained head on every supported backbone and head, checkpoints that hold only what
trains (and refuse a changed base), exact resume, and an export that is a plain model giving the adapted
module's outputs, for every registered task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AlbertConfig,
    AutoConfig,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from src.models.config import LoraConfig
from src.models.peft import DEFAULT_TARGETS, apply_lora, lora_settings, merged
from src.tasks import get_task, task_names
from src.utils.errors import ConfigError, LoadError
from src.utils.schema import plain, validate
from tests.conftest import compose_config, tiny_overrides

LORA = ["model/peft=lora", "model.peft.dropout=0.1"]  # dropout on: resume must replay its masks too


# ------------------------------------------------------------------------------------------------ config
def test_the_group_and_the_string_lora_mean_the_same_settings() -> None:
    grouped = compose_config(["model/peft=lora", "model.peft.r=16", "model.peft.target_modules=[query,key]"])
    assert lora_settings(plain(grouped.model.peft)) == LoraConfig(r=16, target_modules=["query", "key"])
    assert lora_settings(compose_config(["model.peft=lora"]).model.peft) == LoraConfig()
    assert compose_config([]).model.peft is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model/peft=lora", "model.peft.r=0"], r"model.peft.r=0: out of range .*Allowed: an integer >= 1"),
        (["model/peft=lora", "model.peft.alpha=0"], r"model.peft.alpha=0.0: out of range .*Allowed: a number > 0"),
        (["model/peft=lora", "model.peft.dropout=1.0"], r"model.peft.dropout=1.0: out of range .*\[0, 1\)"),
        (["model.peft=lorra"], r"model.peft='lorra': not null, lora or a mapping .*Fix: model.peft="),
        (["model.peft={r: -2}"], r"model.peft.r=-2: out of range"),
        (["model/peft=lora", "+model.peft.rank=4"], r"Unknown config key model.peft.rank\. .*r, alpha, dropout"),
    ],
    ids=["r", "alpha", "dropout", "name", "mapping", "unknown-key"],
)
def test_bad_lora_settings_fail_with_the_key_and_the_fix(overrides: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=message):
        validate(compose_config(overrides, output_dir=tmp_path))


# ------------------------------------------------------------------------------------------------ wrapping
BERT_LIKE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
SIZES = {
    "bert": BERT_LIKE,
    "roberta": BERT_LIKE,
    "xlm-roberta": BERT_LIKE,
    "electra": {**BERT_LIKE, "embedding_size": 32},
    "deberta-v2": BERT_LIKE,
    "distilbert": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64),
}
HEADS = {
    "sequence": AutoModelForSequenceClassification,
    "token": AutoModelForTokenClassification,
    "qa": AutoModelForQuestionAnswering,
    "choice": AutoModelForMultipleChoice,
}
# what trains besides the adapters, for the heads whose layout is worth spelling out (the rest: checked generically)
EXPECTED_HEAD = {
    ("bert", "sequence"): {"classifier", "bert.pooler.dense"},
    ("bert", "choice"): {"classifier", "bert.pooler.dense"},
    ("distilbert", "sequence"): {"pre_classifier", "classifier"},
    ("roberta", "sequence"): {"classifier.dense", "classifier.out_proj"},
    ("deberta-v2", "sequence"): {"pooler.dense", "classifier"},
    ("bert", "qa"): {"qa_outputs"},
    ("bert", "token"): {"classifier"},
}
CASES = [(t, h) for t in SIZES for h in HEADS]


def tiny_model(model_type: str, head: str) -> torch.nn.Module:
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        model_type, vocab_size=120, max_position_embeddings=64, num_labels=2 if head == "qa" else 3, **SIZES[model_type]
    )
    return HEADS[head].from_config(config)


@pytest.mark.parametrize(("model_type", "head"), CASES, ids=[f"{t}-{h}" for t, h in CASES])
def test_default_targets_get_adapters_in_every_layer_and_only_the_head_trains_whole(model_type: str, head: str) -> None:
    model = tiny_model(model_type, head)
    base_prefix = model.base_model_prefix
    outside = {n.rsplit(".", 1)[0] for n, _ in model.named_parameters() if not n.startswith(f"{base_prefix}.")}
    pooler = {n.rsplit(".", 1)[0] for n, _ in model.named_parameters() if n.startswith(f"{base_prefix}.pooler.")}
    wrapped = apply_lora(model, LoraConfig())
    trainable = [n.removeprefix("base_model.model.") for n, p in wrapped.named_parameters() if p.requires_grad]
    adapters = {n.split(".lora_")[0] for n in trainable if ".lora_" in n}
    whole = {n.rsplit(".", 1)[0] for n in trainable if ".lora_" not in n}
    targets = DEFAULT_TARGETS[model_type]
    assert len(adapters) == 2 * len(targets)  # 2 layers x the default targets, every one found
    assert all(any(a.endswith(f".{t}") for a in adapters) for t in targets)
    assert whole == outside | pooler and whole  # the head (and a pooler the head reads) trains whole
    assert whole == EXPECTED_HEAD.get((model_type, head), whole)
    frozen = [n for n, p in wrapped.named_parameters() if not p.requires_grad]
    assert any("embeddings" in n for n in frozen) and not any("embeddings" in n for n in trainable)


def test_unknown_backbone_or_target_names_its_linear_layers() -> None:
    config = AlbertConfig(vocab_size=50, embedding_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64)  # fmt: skip
    albert = AutoModelForSequenceClassification.from_config(config)
    with pytest.raises(
        ConfigError, match=r"no default for model_type 'albert'.*Fix: model.peft.target_modules=.*query"
    ):
        apply_lora(albert, LoraConfig())
    assert apply_lora(albert, LoraConfig(target_modules=["query", "value"]))  # named: fine
    with pytest.raises(ConfigError, match=r"\['qkv'\] match\(es\) no linear layer.*query, value"):
        apply_lora(tiny_model("bert", "sequence"), LoraConfig(target_modules=["query", "qkv"]))


def test_merged_model_gives_the_adapted_outputs() -> None:
    model = tiny_model("bert", "sequence").eval()
    wrapped = apply_lora(model, LoraConfig(target_modules=["query", "key", "value", "attention.output.dense"]))
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:  # initialised to zero: the adapters would change nothing
                param.normal_(std=0.5)
    ids = torch.randint(5, 120, (3, 11))
    before = wrapped(input_ids=ids).logits
    plain_model = merged(wrapped)
    assert type(plain_model).__name__ == "BertForSequenceClassification"
    assert not any("lora" in n for n, _ in plain_model.named_parameters())
    assert not torch.allclose(before, tiny_model("bert", "sequence").eval()(input_ids=ids).logits, atol=1e-3)
    torch.testing.assert_close(plain_model(input_ids=ids).logits, before, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------------ a LoRA run
@pytest.fixture(scope="module")
def lora_run(tiny: dict, sentiment_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """debug=limit with LoRA: best and last checkpoints, test metrics, an export."""
    from src.train import train

    run = tmp_path_factory.mktemp("lora_run")
    overrides = tiny_overrides(
        tiny["bert"], sentiment_dir, "debug=limit", "logger=none", "callbacks.reports=null", *LORA
    )
    metrics = train(compose_config(overrides, output_dir=run))
    return {"run": run, "metrics": metrics, "best": next((run / "checkpoints").glob("best-*.ckpt"))}


def test_checkpoints_hold_only_the_adapters_and_the_head(lora_run: dict, tiny: dict) -> None:
    saved = torch.load(lora_run["best"], map_location="cpu", weights_only=True)
    keys = set(saved["state_dict"])
    assert keys and all(".lora_" in k or ".classifier." in k or ".bert.pooler." in k for k in keys), keys
    assert saved["peft"]["frozen_keys"] > 0 and len(saved["peft"]["base_fingerprint"]) == 32
    assert {"optimizer_states", "lr_schedulers"} <= set(saved)  # resumable: optimizer state of what trains
    full = load_file(Path(tiny["bert"]) / "model.safetensors")
    assert sum(v.numel() for v in saved["state_dict"].values()) < sum(v.numel() for v in full.values()) / 10


def test_eval_and_export_of_a_lora_checkpoint_give_the_run_s_outputs(lora_run: dict, tmp_path: Path) -> None:
    """eval.py reproduces the test metrics (base weights from model.pretrained + the checkpoint); the export is a
    plain model directory whose outputs are those of the adapted, unmerged module, in transformers.pipeline,
    predict.py and ONNX."""
    from transformers import AutoTokenizer, pipeline

    from src.eval import evaluate
    from src.export import export
    from src.tasks import load_predictor

    run, best = lora_run["run"], lora_run["best"]
    tested = {k: v for k, v in lora_run["metrics"].items() if k.startswith("test/")}
    same_batches = "trainer.limit_test_batches=3"  # debug=limit's
    evaluated = evaluate(compose_config([f"ckpt_path={best}", "logger=none", same_batches], "eval", tmp_path))
    assert {k: evaluated[k] for k in tested} == pytest.approx(tested, abs=1e-6)

    exported = run / "hf_model"
    assert (exported / "model.safetensors").is_file() and not list(exported.glob("adapter*"))
    module = get_task("classification").load_module(str(best)).eval()
    assert any(p.abs().sum() > 0 for n, p in module.named_parameters() if "lora_B" in n)  # the adapters trained
    texts = ["a great and moving film", "dull, boring and far too long"]
    batch = dict(AutoTokenizer.from_pretrained(exported)(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        before = module(batch).logits
        after = AutoModelForSequenceClassification.from_pretrained(exported).eval()(**batch).logits
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    scores = pipeline("text-classification", model=str(exported), device="cpu", top_k=None)(texts)
    expected = [pytest.approx({"neg": p[0], "pos": p[1]}, abs=1e-5) for p in before.softmax(-1).tolist()]
    assert [{r["label"]: r["score"] for r in ranked} for ranked in scores] == expected
    records = load_predictor(exported, device="cpu").predict(texts)  # predict.py and ONNX: as for any export
    assert [r["probs"] for r in records] == expected
    onnx = export(compose_config([f"model_dir={exported}"], "export", output_dir=tmp_path / "onnx"))
    assert onnx["max_abs_diff"] < 1e-4


def test_a_changed_base_or_a_missing_trained_weight_is_refused(lora_run: dict, tiny: dict, tmp_path: Path) -> None:
    task, best = get_task("classification"), lora_run["best"]
    base = tmp_path / "base"
    base.mkdir()
    for f in Path(tiny["bert"]).iterdir():
        (base / f.name).write_bytes(f.read_bytes())
    weights = load_file(base / "model.safetensors")
    name = next(k for k in weights if "encoder.layer.1.output.dense.weight" in k)
    weights[name] = weights[name] + 1e-3  # a frozen weight, not one the checkpoint holds
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})
    saved = torch.load(best, map_location="cpu", weights_only=True)
    moved = {**saved["hyper_parameters"]["model"], "pretrained": str(base)}
    with pytest.raises(LoadError, match=r"is not the backbone this LoRA checkpoint was trained on.*Fix: point model"):
        task.load_module(str(best), model=moved)

    key = next(k for k in saved["state_dict"] if "lora_A" in k)
    del saved["state_dict"][key]
    torch.save(saved, tmp_path / "cut.ckpt")
    with pytest.raises(RuntimeError, match=f"Missing key.*{key}"):
        task.load_module(str(tmp_path / "cut.ckpt"))


def test_freeze_backbone_with_lora_and_sharded_strategies_are_refused(lora_run: dict) -> None:
    from types import SimpleNamespace

    from lightning.pytorch.strategies import DeepSpeedStrategy

    from src.tasks.classification.module import ClassificationModule

    saved = torch.load(lora_run["best"], map_location="cpu", weights_only=True)["hyper_parameters"]
    with pytest.raises(ConfigError, match=r"model.peft and model.freeze_backbone=true.*Fix: model.freeze_backbone"):
        ClassificationModule(model={**saved["model"], "freeze_backbone": True}, label_names=["neg", "pos"])
    module = get_task("classification").load_module(str(lora_run["best"]))
    module._trainer = SimpleNamespace(strategy=DeepSpeedStrategy.__new__(DeepSpeedStrategy))
    with pytest.raises(ConfigError, match=r"model.peft with DeepSpeedStrategy.*Fix: trainer=ddp"):
        module.setup("fit")


def _losses(path: Path) -> dict[int, float]:
    """Step -> loss of a LossRecorder file."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_resume_replays_the_uninterrupted_lora_run_and_refuses_a_peft_change(
    tiny: dict, sentiment_dir: Path, tmp_path: Path
) -> None:
    """Interrupted at step 7 (last.ckpt at step 6) and resumed: the same per-step losses as the uninterrupted run
    (adapter dropout masks and optimizer state included); a resume may not change the LoRA settings."""
    from src.train import train
    from tests.helpers import InterruptedForTest

    base = tiny_overrides(
        tiny["bert"], sentiment_dir, *LORA, "data.batch_size=16", "data.max_samples.train=80",
        "data.max_samples.validation=16", "trainer.max_epochs=2", "callbacks.last_checkpoint.every_n_train_steps=3",
        "+callbacks.record._target_=tests.helpers.LossRecorder", "test=false", "export=false", "callbacks.reports=null",
    )  # fmt: skip
    full, cut = tmp_path / "full", tmp_path / "cut"
    train(compose_config([*base, f"+callbacks.record.path={full}/losses.jsonl"], output_dir=full))
    stop = [f"+callbacks.record.path={cut}/a.jsonl", "+callbacks.record.stop_at_step=7"]
    with pytest.raises(InterruptedForTest):
        train(compose_config([*base, *stop], output_dir=cut))
    resume = ["ckpt_path=last", "allow_changes=[callbacks.record.*]", f"+callbacks.record.path={cut}/b.jsonl"]
    with pytest.raises(ConfigError, match=r"model\.peft\.r"):
        train(compose_config([*base, *resume, "model.peft.r=4"], output_dir=cut))
    train(compose_config([*base, *resume], output_dir=cut))
    expected, before, after = _losses(full / "losses.jsonl"), _losses(cut / "a.jsonl"), _losses(cut / "b.jsonl")
    assert len(expected) == 10 and min(after) == 7  # from last.ckpt (step 6): step 7 is redone...
    assert {**{s: v for s, v in before.items() if s < 7}, **after} == expected  # ... and the run is the same


# ------------------------------------------------------------------------------------------------ every task
FIRST_VARIANTS = [(name, next(iter(get_task(name).variants()))) for name in task_names() if get_task(name).variants()]


@pytest.mark.parametrize(
    ("task_name", "variant"),
    [pytest.param(t, v, marks=[] if t == "classification" else pytest.mark.slow) for t, v in FIRST_VARIANTS],
    ids=[f"{t}-{v}" for t, v in FIRST_VARIANTS],
)
def test_every_task_trains_with_lora_and_exports_its_outputs(task_name: str, variant: str, tiny: dict, tmp_path: Path):
    """Each registered task's first variant: a LoRA run trains only adapters and head, and its export (a plain model
    of the task's AutoModelFor* class) gives the unmerged module's outputs on a validation batch."""
    from src.models.base import MODEL_INPUTS
    from src.train import prepared_data, train

    task = get_task(task_name)
    spec = task.variants()[variant]
    data = spec.write_data(tmp_path / "data", 0)
    overrides = [
        f"task={task_name}", "model=bert", f"model.pretrained={tiny['bert']}", f"data.path={data}",
        "data.max_length=128", "data.batch_size=8", "data.num_workers=0", "trainer=cpu", "logger=none",
        "model.optimizer.lr=3e-2", *LORA, "trainer.max_epochs=1", "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "callbacks.reports=null", *spec.overrides,
    ]  # fmt: skip
    train(compose_config(overrides, output_dir=tmp_path / "run"))
    best = next((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    assert not any("embeddings" in k or (".dense." in k and ".pooler." not in k) for k in state), list(state)
    module = task.load_module(str(best)).eval()
    exported = tmp_path / "run" / "hf_model"
    model = task.auto_class.from_pretrained(exported).eval()
    batch = next(iter(prepared_data(compose_config(overrides, output_dir=tmp_path / "b"), task).val_dataloader()))
    inputs = {k: batch[k] for k in MODEL_INPUTS if batch.get(k) is not None}
    with torch.no_grad():
        before, after = module(batch), model(**inputs)
    names = [k for k in before if k != "loss"]
    assert names and all(torch.allclose(after[k], before[k], atol=1e-5) for k in names), names
