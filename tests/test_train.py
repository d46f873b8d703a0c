"""End-to-end runs of src/train.py and src/eval.py on tiny local models (real CLI where it matters)."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import compose_config, run_cli, tiny_overrides


def summary_value(stdout: str, key: str) -> float:
    """A metric from the summary table the entry points print."""
    match = re.search(rf"^{re.escape(key)}\s+([0-9.]+)$", stdout, flags=re.MULTILINE)
    assert match, f"{key} not in output:\n{stdout[-2000:]}"
    return float(match.group(1))


@pytest.mark.parametrize("kind", ["distilbert", "roberta"])
def test_sentence_pairs_on_backbones_without_token_types(kind: str, tiny: dict, tmp_path: Path) -> None:
    """DistilBERT and RoBERTa take no token_type_ids (the contract test runs BERT, which does)."""
    from src.tasks.classification.synthetic import pair_rows, write_splits
    from src.train import train

    data = write_splits(pair_rows, tmp_path / "data", 120, 40)
    extra = ("debug=fdr", "data.text_pair_column=text_pair", "data.label_names=null")
    metrics = train(compose_config(tiny_overrides(tiny[kind], data, *extra), output_dir=tmp_path / "run"))
    assert {"test/acc", "test/f1", "test/auroc", "test/loss"} <= set(metrics)
    config = json.loads((tmp_path / "run" / "hf_model" / "config.json").read_text())
    assert config["id2label"] == {"0": "agree", "1": "disagree"} and config["finetune"]["text_pair"] is True
    assert (tmp_path / "run" / "hf_model" / "model.safetensors").is_file()


def test_train_learns_exports_and_eval_reproduces(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """A short real run is clearly above chance; eval of its checkpoint and the exported pipeline agree with it."""
    from transformers import pipeline

    run = tmp_path / "run"
    proc = run_cli(
        "train", *tiny_overrides(tiny["bert"], sentiment_dir, "trainer.max_epochs=6", f"hydra.run.dir={run}")
    )
    test_acc = summary_value(proc.stdout, "test/acc")
    assert test_acc > 0.8, proc.stdout[-2000:]  # chance is 0.5; labels carry 5% noise
    rows = r"test confusion matrix.*\n.*neg.*pos\n\s*neg\s+(\d+)\s+(\d+)\n\s*pos\s+(\d+)\s+(\d+)"
    matrix = re.search(rows, proc.stdout)
    counts = [int(x) for x in matrix.groups()]
    assert sum(counts) == 200 and (counts[0] + counts[3]) / 200 == test_acc  # rows gold, columns predicted

    best = next((run / "checkpoints").glob("best-*.ckpt"))
    proc = run_cli("eval", f"ckpt_path={best}", "logger=none", f"hydra.run.dir={tmp_path / 'eval'}")
    assert summary_value(proc.stdout, "test/acc") == test_acc
    assert (tmp_path / "eval" / "report" / "test" / "roc_curve.png").is_file()  # eval writes the test report too
    assert f"| acc |  | {test_acc:.4f} |" in (tmp_path / "eval" / "report.md").read_text()

    # the exported directory is the tested model: the pipeline reproduces its test accuracy
    test = pd.read_parquet(sentiment_dir / "test.parquet")
    classify = pipeline("text-classification", model=str(run / "hf_model"), device="cpu")
    predicted = [p["label"] for p in classify(test["text"].tolist(), batch_size=64)]
    accuracy = sum(p == ["neg", "pos"][y] for p, y in zip(predicted, test["label"], strict=True)) / len(test)
    assert round(accuracy, 4) == test_acc


def _losses(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_epoch_has_its_own_order_and_a_kill_9_in_epoch_3_resumes_into_the_full_run(
    tiny: dict, sentiment_dir: Path, tmp_path: Path
) -> None:
    """A real Trainer run shuffles each epoch differently (Lightning calls set_epoch on our batch sampler),
    and a run killed with SIGKILL in the middle of a step of the third epoch and resumed with ckpt_path=last
    replays exactly the uninterrupted run: the same rows at every step, the same per-step losses (dropout masks,
    optimizer state), the same validation losses; the steps lost since the last checkpoint are redone
    identically."""
    base = tiny_overrides(
        tiny["bert"],
        sentiment_dir,
        "data.max_samples.train=150",  # 5 batches of 32 per epoch (the last one short)
        "data.max_samples.validation=40",
        "trainer.max_epochs=3",
        "callbacks.last_checkpoint.every_n_train_steps=4",  # checkpoints at steps 4, 8, 12
        "+callbacks.record._target_=tests.helpers.LossRecorder",
        "test=false",
        "export=false",
    )
    from src.train import train

    full, cut = tmp_path / "full", tmp_path / "cut"
    train(compose_config([*base, f"+callbacks.record.path={full}/losses.jsonl"], output_dir=full))  # in-process
    expected = _losses(full / "losses.jsonl")
    steps = [r for r in expected if "loss" in r]
    orders = [[r["rows"] for r in steps if r["epoch"] == e] for e in range(3)]
    seen = [sorted(row for batch in order for row in batch) for order in orders]
    assert seen[0] == seen[1] == seen[2] == list(range(150))  # each epoch sees every row once...
    assert orders[0] != orders[1] != orders[2] != orders[0]  # ... in its own order
    assert len(expected) == 3 * 5 + 3  # 15 steps and 3 validations

    # kill -9 in epoch 3, inside the 14th step (after its backward, before its optimizer step)
    kill = ["+callbacks.kill._target_=tests.helpers.SignalAt", "+callbacks.kill.step=13",
            "+callbacks.kill.signal_name=SIGKILL", "+callbacks.kill.mid_step=true"]  # fmt: skip
    proc = run_cli("train", *base, *kill, f"hydra.run.dir={cut}", f"+callbacks.record.path={cut}/killed.jsonl",
                   expect_ok=False)  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]
    killed = _losses(cut / "killed.jsonl")
    assert killed == expected[: len(killed)] and killed[-1]["step"] == 13  # step 13 trained, then lost

    probes = "allow_changes=[callbacks.kill.*,callbacks.record.path]"  # the test's own callbacks: not the run's
    train(
        compose_config([*base, f"+callbacks.record.path={cut}/resumed.jsonl", "ckpt_path=last", probes], output_dir=cut)
    )
    resumed = _losses(cut / "resumed.jsonl")
    assert resumed[0]["step"] == 13  # from last.ckpt (step 12): step 13 is redone...
    assert [r for r in killed if r["step"] <= 12] + resumed == expected  # ... and the run is the uninterrupted one


def test_resume_last_without_checkpoint_fails_with_fix(tmp_path: Path) -> None:
    from src.train import train

    with pytest.raises(
        FileNotFoundError, match=r"last\.ckpt does not exist\. .*hydra\.run\.dir=<that run dir> ckpt_path=last"
    ):
        train(compose_config(["ckpt_path=last", "logger=none"], output_dir=tmp_path))


def test_same_seed_same_metrics(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    runs = []
    for name in ("a", "b"):
        cfg = compose_config(tiny_overrides(tiny["distilbert"], sentiment_dir, "debug=limit", "logger=none"),
                             output_dir=tmp_path / name)  # fmt: skip
        metrics = train(cfg)
        runs.append({k: v for k, v in metrics.items() if not k.endswith(("_per_sec", "_seconds", "_ms", "_gb", "mfu"))})
    assert runs[0] == runs[1]
    assert runs[0]["test/loss"] > 0


def test_missing_model_offline_fails_fast_with_fix(sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    start = time.monotonic()
    overrides = ["model.pretrained=some-org/not-a-cached-model", "model.tokenizer=some-org/not-a-cached-model",
                 f"data.path={sentiment_dir}", "logger=none"]  # fmt: skip
    with pytest.raises(OSError, match=r"model\.tokenizer='some-org/not-a-cached-model' .* Fix: pass model\.tokenizer="):
        train(compose_config(overrides, output_dir=tmp_path))
    assert time.monotonic() - start < 10


def test_csv_logger_records_per_step_loss(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    cfg = compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=csv"), output_dir=tmp_path)
    train(cfg)
    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    steps = [r for r in rows if r.get("train/loss_step")]
    assert len(steps) == 10  # debug=limit: 5 batches x 2 epochs, logged every step
    assert any(r.get("val/acc") for r in rows) and any(r.get("train/lr") for r in rows)
    efficiency = [float(r["train/padding_efficiency"]) for r in rows if r.get("train/padding_efficiency")]
    assert len(efficiency) == 2 and all(0.5 < e <= 1.0 for e in efficiency)  # one per epoch


def test_wandb_default_logger_runs_offline_without_credentials(
    tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """The default logger with no key and no TTY: the run completes, logged offline for a later `wandb sync`,
    report figures included; resuming it with ckpt_path=last continues the same W&B run."""
    from src.train import train

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=wandb")
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert metrics["test/acc"] >= 0
    images = {p.name.rsplit("_", 2)[0] for p in runs[0].glob("files/media/images/**/*.png")}
    assert {"confusion_matrix", "roc_curve", "pr_curve", "class_distribution"} <= images

    more = ["ckpt_path=last", "trainer.max_epochs=3", "allow_changes=[trainer.max_epochs]"]
    train(compose_config([*overrides, *more], output_dir=tmp_path))
    run_ids = {p.name.rsplit("-", 1)[-1] for p in (tmp_path / "wandb").glob("offline-run-*")}
    assert run_ids == {(tmp_path / "wandb_run_id").read_text()}  # two offline runs, one W&B run
