"""Test metrics of a checkpoint on the test split of the data it was trained with.

    python src/eval.py ckpt_path=logs/classification/train/<run>/checkpoints/last.ckpt
    python src/eval.py ckpt_path=<file.ckpt> data.path=../shared/data/imdb trainer=gpu

Task, architecture, label names, tokenizer and data config come from the checkpoint: the command above
tests on the test split the model was trained with. `data.*`/`seed` overrides apply on top; `data=<config>`
replaces the data config. Checkpoints are loaded with weights_only=True, and nothing read from them can
run code: `trust_remote_code` comes from this command line only (default false), never from the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from src.cli import prepare
from src.launch.wrap import task_wrapper
from src.reports.benchmark import benchmark_scores
from src.tasks import get_task
from src.training.checkpoints import read_checkpoint, resolve_ckpt_path
from src.training.runtime import configure_runtime, trainer_kwargs
from src.training.stop import STOP
from src.utils.console import format_table, scalars
from src.utils.errors import ConfigError, DataError, strip_verbose_flag, user_errors
from src.utils.instantiate import instantiate_group
from src.utils.log import get_logger, quiet_libraries

if TYPE_CHECKING:
    from src.data.base import TokenizedDataModule
    from src.tasks.base import Task

log = get_logger("eval")
prepare()  # config schemas, resolvers, config errors as user errors: before Hydra composes


def overrides() -> list:
    """This command's overrides, parsed (empty outside a Hydra run)."""
    given = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    return OverridesParser.create().parse_overrides(list(given))


def saved_data(checkpoint: dict) -> tuple[DictConfig, int] | None:
    """The data config and seed the checkpoint's run trained with (None: the checkpoint records none)."""
    saved = checkpoint.get("datamodule_hyper_parameters")
    return (OmegaConf.create(saved["data"]), saved["seed"]) if saved else None


def data_config(cfg: DictConfig, checkpoint: dict) -> tuple[DictConfig, int]:
    """The data config and seed the checkpoint was trained with, under this command's overrides."""
    saved = saved_data(checkpoint)
    parsed = overrides()
    if not saved or any(o.key_or_group == "data" for o in parsed):
        return cfg.data, cfg.seed
    data, seed = saved
    for o in parsed:
        if o.key_or_group.startswith("data."):
            OmegaConf.update(data, o.key_or_group.removeprefix("data."), o.value(), force_add=True)
    seed = cfg.seed if any(o.key_or_group == "seed" for o in parsed) else seed
    return data, seed


def checkpoint_datamodule(
    task: Task,
    checkpoint: dict,
    data: DictConfig,
    seed: int,
    *,
    tokenizer: str,
    cache_dir: str,
    stage: str,
    trust_remote_code: bool = False,
    tokenizer_key: str = "tokenizer",
) -> TokenizedDataModule:
    """The checkpoint's data module (its run's `data` config and `seed`) prepared and set up for `stage`, its
    labels checked against the checkpoint's: what eval.py tests on and export.py scores the ONNX models on."""
    L.seed_everything(seed, workers=True)
    datamodule = task.datamodule(
        data, tokenizer=tokenizer, cache_dir=cache_dir, seed=seed, trust_remote_code=trust_remote_code,
        tokenizer_key=tokenizer_key,
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup(stage)
    labels = checkpoint["hyper_parameters"].get("label_names")
    if datamodule.label_names != labels:
        raise ConfigError(
            f"The data's labels {datamodule.label_names} differ from the checkpoint's {labels}. "
            "Fix: data.label_names=<the checkpoint's names, in order>."
        )
    return datamodule


def checkpoint_task(cfg: DictConfig, checkpoint: dict, ckpt_path: str) -> str:
    """The task the checkpoint was trained for; a different `task=` on the command line is an error."""
    trained = checkpoint.get("task")
    if trained is None:
        raise DataError(f"{ckpt_path} records no task: it was not written by src/train.py.")
    if any(o.key_or_group == "task" for o in overrides()) and cfg.task.name != trained:
        raise ConfigError(
            f"{ckpt_path} was trained with task={trained}; evaluate it with task={trained} (now task={cfg.task.name})."
        )
    return trained


def tokenizer_source(cfg: DictConfig, checkpoint: dict) -> str:
    """`tokenizer=` if given, else the tokenizer the checkpoint was trained with (said in the log)."""
    if cfg.tokenizer:
        return str(cfg.tokenizer)
    model = checkpoint["hyper_parameters"]["model"]
    source = model.get("tokenizer") or model["pretrained"]
    log.info("Tokenizer: %s (recorded in the checkpoint; tokenizer=<dir or hub id> to use another).", source)
    return source


@task_wrapper
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test one checkpoint; returns the test metrics."""
    quiet_libraries()
    configure_runtime(cfg)
    if cfg.ckpt_path in (None, "last", "auto"):
        raise ConfigError(
            "ckpt_path must name a checkpoint, e.g. ckpt_path=logs/classification/train/<run>/checkpoints/last.ckpt"
        )
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.output_dir)
    checkpoint = read_checkpoint(ckpt_path)
    task = get_task(checkpoint_task(cfg, checkpoint, ckpt_path))
    hparams = checkpoint["hyper_parameters"]
    data, seed = data_config(cfg, checkpoint)
    trust = cfg.trust_remote_code  # this command's choice, never the checkpoint's
    STOP.stage = "data preparation"
    datamodule = checkpoint_datamodule(
        task, checkpoint, data, seed, tokenizer=tokenizer_source(cfg, checkpoint), cache_dir=cfg.paths.cache_dir,
        stage="test", trust_remote_code=trust,
    )  # fmt: skip
    model = {**hparams["model"], "trust_remote_code": trust, "compile": False}
    del checkpoint  # the module below reads it again, weights only
    module = task.load_module(ckpt_path, model=model)

    trainer = L.Trainer(
        **trainer_kwargs(cfg.trainer),
        logger=instantiate_group(cfg.logger) or False,
        callbacks=instantiate_group(cfg.callbacks, task=task),
    )
    STOP.stage = "test"
    trainer.test(module, datamodule=datamodule)
    metrics = scalars(trainer.callback_metrics)
    if trainer.is_global_zero:
        text = task.console_summary(module.predictions["test"], {**datamodule.info, **module.export_info()})
        if text:
            print(text)
        print(format_table(f"{task.name} test of {ckpt_path}", metrics))
        if benchmark := benchmark_scores(datamodule.cfg.benchmark, metrics):
            print(format_table(f"{datamodule.cfg.benchmark.name}, as published tables report it", benchmark))
    return metrics


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg)


if __name__ == "__main__":
    sys.argv = strip_verbose_flag(sys.argv)
    main()
