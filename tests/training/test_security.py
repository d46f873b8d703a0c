"""Nothing read from a checkpoint or a model directory can make the template run code.

The malicious checkpoint loads cleanly with weights_only=True (plain containers only) but asks for remote
code: `trust_remote_code: true` in its hyperparameters, a tokenizer directory whose tokenizer_config.json
maps AutoTokenizer to a Python file, and a backbone config whose auto_map names another. Importing either
file would write a marker file: it must never appear.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from tests.conftest import compose_config, tiny_overrides

PAYLOAD = "import pathlib\npathlib.Path(__file__).with_name('PWNED').write_text('code ran')\n"


def plant(directory: Path) -> None:
    """Make `directory` (a tokenizer/model dir) name custom code in its configs, next to the code itself."""
    (directory / "tokenization_evil.py").write_text(PAYLOAD + "from transformers import BertTokenizer as Evil\n")
    (directory / "modeling_evil.py").write_text(PAYLOAD + "from transformers import BertModel as Evil\n")
    config = json.loads((directory / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.Evil", None]}
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    if (directory / "config.json").is_file():
        config = json.loads((directory / "config.json").read_text())
        config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.Evil"}
        (directory / "config.json").write_text(json.dumps(config))


def test_a_checkpoint_cannot_turn_on_remote_code(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.eval import evaluate
    from src.train import train

    run = tmp_path / "run"
    train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none"), output_dir=run))
    evil = tmp_path / "evil"
    shutil.copytree(tiny["bert"], evil)
    plant(evil)

    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    model = checkpoint["hyper_parameters"]["model"]
    model.update(trust_remote_code=True, tokenizer=str(evil), pretrained=str(evil))
    checkpoint["hyper_parameters"]["backbone_config"] |= {
        "auto_map": {"AutoModelForSequenceClassification": "modeling_evil.Evil"}, "_name_or_path": str(evil)
    }  # fmt: skip
    checkpoint["datamodule_hyper_parameters"]["tokenizer"] = str(evil)
    malicious = tmp_path / "malicious.ckpt"
    torch.save(checkpoint, malicious)
    torch.load(malicious, weights_only=True)  # it is a "safe" checkpoint: plain containers only

    try:
        evaluate(compose_config([f"ckpt_path={malicious}", "logger=none"], "eval", output_dir=tmp_path / "eval"))
    except OSError as err:  # refusing the tokenizer is fine: running its code is not
        assert "tokenizer" in str(err)
    assert not (evil / "PWNED").exists(), "code named by the checkpoint ran"


def test_an_exported_model_cannot_turn_on_remote_code(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.tasks import load_predictor
    from src.train import train

    run = tmp_path / "run"
    train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr"), output_dir=run))
    plant(run / "hf_model")
    try:
        load_predictor(run / "hf_model", device="cpu").predict(["a good film"])
    except (OSError, ValueError) as err:
        assert "model_dir" in str(err)
    assert not (run / "hf_model" / "PWNED").exists(), "code named by the model directory ran"
