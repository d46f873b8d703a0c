"""Every config in every group composes, `_target_` arguments match signatures, every YAML says how it is used,
every experiment runs (fast_dev_run on tiny assets)."""

from __future__ import annotations

import inspect
from pathlib import Path

import lightning as L
import pytest
from hydra.utils import get_method
from omegaconf import OmegaConf

from src.data.base import COMMON_KEYS
from src.models.backbone import MODEL_KEYS
from src.tasks import TASKS
from tests.conftest import ROOT, compose_config, tiny_overrides

CONFIGS = ROOT / "configs"
GROUPS = ["task", "data", "model", "model/optimizer", "model/scheduler", "trainer", "precision", "callbacks",
          "launcher", "logger", "experiment", "debug"]  # fmt: skip
SPECIAL = {"_target_", "_partial_", "_recursive_", "_convert_"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml") if not p.stem.startswith("_"))


ALL = [(g, o) for g in GROUPS for o in options(g)]
# the task whose default data config each data option is (data=conll2003 needs task=ner)
TASK_OF_DATA = {OmegaConf.load(p).defaults[0]["/data"]: p.stem for p in (CONFIGS / "task").glob("*.yaml")}


def targets(node: object) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if "_target_" in node:
            found.append(node)
        for value in node.values():
            found += targets(value)
    elif isinstance(node, list):
        for value in node:
            found += targets(value)
    return found


def check_signature(target: dict, where: str) -> None:
    params = inspect.signature(get_method(target["_target_"])).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = set(target) - SPECIAL - set(params)
    assert not unknown, f"{where}: {target['_target_']} has no argument(s) {unknown}"


@pytest.mark.parametrize(("group", "option"), ALL, ids=[f"{g}={o}" for g, o in ALL])
def test_config_composes_and_targets_match_signatures(group: str, option: str, tmp_path: Path) -> None:
    task = [f"task={TASK_OF_DATA[option]}"] if group == "data" else []
    cfg = compose_config([*task, f"{group}={option}"], output_dir=tmp_path)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for target in targets(resolved):
        check_signature(target, f"{group}={option}")
    trainer_args = set(inspect.signature(L.Trainer.__init__).parameters)
    assert set(resolved["trainer"]) <= trainer_args, set(resolved["trainer"]) - trainer_args
    assert set(resolved["model"]) <= MODEL_KEYS
    datamodule = TASKS[resolved["task"]["name"]][0]
    assert set(resolved["data"]) <= COMMON_KEYS | datamodule.task_keys


@pytest.mark.parametrize("config_name", ["train", "eval"])
def test_primary_configs_compose(config_name: str, tmp_path: Path) -> None:
    cfg = compose_config(["ckpt_path=x.ckpt"] if config_name == "eval" else [], config_name, output_dir=tmp_path)
    OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_yaml_opens_with_a_comment(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("# @package")]
    assert lines and lines[0].startswith("# "), f"{path} must open with a comment saying how it is used"


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_runs(experiment: str, tiny: dict, sentiment_dir: Path, ner_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    task = compose_config([f"experiment={experiment}"]).task.name
    data = ner_dir if task == "ner" else sentiment_dir
    overrides = [f"experiment={experiment}", *tiny_overrides(tiny["bert"], data, "debug=fdr")[1:]]
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert "test/loss" in metrics


def test_misspelt_model_key_fails_before_any_work(tmp_path: Path) -> None:
    from src.train import train

    with pytest.raises(KeyError, match=r"Unknown config key.*model\.freeze_bakbone"):
        train(compose_config(["+model.freeze_bakbone=true"], output_dir=tmp_path))


@pytest.mark.parametrize("debug", options("debug"))
def test_every_debug_config_runs(debug: str, tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    extra = ["trainer.max_epochs=3"] if debug == "overfit" else []
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, f"debug={debug}", *extra)
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert metrics["test/loss"] > 0
