"""Every config in every group composes against its schema, every key of every YAML file is declared (in a schema,
or as an argument of a `_target_`'s class), `_target_` arguments match signatures, every YAML says how it is used,
every experiment runs (fast_dev_run on tiny assets)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import lightning as L
import pytest
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from src.tasks import get_task, task_names
from src.utils.schema import validate
from tests.conftest import ROOT, compose_config, tiny_overrides

CONFIGS = ROOT / "configs"
GROUPS = ["task", "data", "model", "model/optimizer", "model/scheduler", "trainer", "precision", "callbacks",
          "launcher", "logger", "experiment", "debug"]  # fmt: skip
SPECIAL = {"_target_", "_partial_", "_recursive_", "_convert_"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml") if not p.stem.startswith("_"))


ALL = [(g, o) for g in GROUPS for o in options(g)]


def task_of_data(option: str) -> str:
    """The first registered task whose data module's schema is the one data=<option> composes to (a fork's new
    data config is checked against its task with no edit here)."""
    schema = OmegaConf.get_type(compose_config([f"data={option}"]).data)
    for name in task_names():
        if get_task(name).datamodule_class.config_class is schema:
            return name
    raise AssertionError(f"data={option}: its schema {schema} is no registered task's data schema")


def undeclared(node: object, where: str) -> list[str]:
    """Keys of a composed config declared nowhere: nodes that are neither a schema (a dataclass) nor a `_target_`
    object (whose class's signature declares its keys, checked below). The value of a schema's key is declared by
    that key, whatever it holds (data.max_samples is a mapping its check reads)."""
    if not isinstance(node, DictConfig) or (
        "_target_" in node and not dataclasses.is_dataclass(OmegaConf.get_type(node))
    ):
        return []
    typed = dataclasses.is_dataclass(OmegaConf.get_type(node))
    found = [] if typed else [where or "<root>"]
    for key in node:
        child = None if OmegaConf.is_missing(node, key) else node[key]
        if isinstance(child, DictConfig) and (not typed or dataclasses.is_dataclass(OmegaConf.get_type(child))):
            found += undeclared(child, f"{where}{key}.")
    return found


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
    task = [f"task={task_of_data(option)}"] if group == "data" else []
    cfg = compose_config([*task, f"{group}={option}"], output_dir=tmp_path)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for target in targets(resolved):
        check_signature(target, f"{group}={option}")
    trainer_args = set(inspect.signature(L.Trainer.__init__).parameters)
    assert set(resolved["trainer"]) <= trainer_args, set(resolved["trainer"]) - trainer_args
    validate(cfg)  # every key known, every value allowed
    groups = [k for k in cfg if k not in ("callbacks", "logger")]  # callbacks, loggers: leaf objects (signatures)
    for key in groups:
        assert not undeclared(cfg[key], f"{key}."), f"{group}={option}: keys declared in no schema"


@pytest.mark.parametrize("config_name", ["train", "eval"])
def test_primary_configs_compose(config_name: str, tmp_path: Path) -> None:
    cfg = compose_config(["ckpt_path=x.ckpt"] if config_name == "eval" else [], config_name, output_dir=tmp_path)
    OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_yaml_opens_with_a_comment(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("# @package")]
    assert lines and lines[0].startswith("# "), f"{path} must open with a comment saying how it is used"


def classification_rows(data: dict, n: int = 80) -> list[dict]:
    """Synthetic rows with the columns a classification data config names (pairs, label columns, scores)."""
    from src.tasks.classification.synthetic import sentiment_rows

    rows = []
    for i, row in enumerate(sentiment_rows(n, seed=7)):
        out = {data["text_column"]: row["text"]}
        if data.get("text_pair_column"):
            out[data["text_pair_column"]] = row["text"][::-1]
        labels = data["label_column"]
        if isinstance(labels, list):
            out |= {name: int((i + k) % 3 == 0) for k, name in enumerate(labels)}
        elif data.get("problem_type") == "regression":
            out[labels] = float(row["label"]) + 0.5 * (i % 3)
        else:
            out[labels] = ["neg", "pos"][row["label"]]
        rows.append(out)
    return rows


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_runs(experiment: str, tiny: dict, tmp_path: Path) -> None:
    """Each experiment's own data config (columns, problem type) on synthetic rows, fast_dev_run; a task other than
    classification runs on its first variant's synthetic data (a fork's new task needs no edit here)."""
    import pandas as pd

    from src.train import train

    cfg = compose_config([f"experiment={experiment}"])
    if cfg.task.name == "classification":
        data = OmegaConf.to_container(cfg.data)
        for split, n in (("train", 80), ("test", 20)):
            pd.DataFrame(classification_rows(data, n)).to_parquet(tmp_path / f"{split}.parquet")
        path = tmp_path
    else:
        path = next(iter(get_task(cfg.task.name).variants().values())).write_data(tmp_path / "data", 0)
    overrides = [f"experiment={experiment}", *tiny_overrides(tiny["bert"], path, "debug=fdr")[1:],
                 "data.test_size=0.1", "data.splits=null"]  # fmt: skip
    metrics = train(compose_config(overrides, output_dir=tmp_path / "run"))
    assert "test/loss" in metrics


def test_a_group_built_alone_resolves_interpolations_into_the_whole_config() -> None:
    """`make demo`'s experiment points data.path and model.pretrained at ${paths.root_dir}/.demo: building the
    typed data config from the composed node must resolve them (the node alone has no `paths`)."""
    from src.models.config import EncoderConfig
    from src.utils.schema import build

    cfg = compose_config(["experiment=demo"])
    data = build(get_task(cfg.task.name).datamodule_class.config_class, cfg.data, "data")
    model = build(EncoderConfig, cfg.model, "model")
    assert (data.path, model.pretrained) == (f"{ROOT}/.demo/sentiment", f"{ROOT}/.demo/tiny-bert")


def test_misspelt_model_key_fails_before_any_work(tmp_path: Path) -> None:
    from src.train import train

    with pytest.raises(KeyError, match=r"Unknown config key.*model\.freeze_bakbone"):
        train(compose_config(["+model.freeze_bakbone=true"], output_dir=tmp_path))


@pytest.mark.slow  # debug=fdr and debug=limit run in most CLI tests of the fast suite
@pytest.mark.parametrize("debug", options("debug"))
def test_every_debug_config_runs(debug: str, tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    from src.train import train

    extra = ["trainer.max_epochs=3"] if debug == "overfit" else []
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, f"debug={debug}", *extra)
    metrics = train(compose_config(overrides, output_dir=tmp_path))
    assert metrics["test/loss"] > 0
