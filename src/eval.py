"""Test metrics of a checkpoint on the test split of the configured data.

    python src/eval.py ckpt_path=logs/sentiment/train/<run>/checkpoints/last.ckpt
    python src/eval.py ckpt_path=<file.ckpt> data.path=../shared/data/imdb trainer=gpu

Architecture, label names, tokenizer and data config come from the checkpoint: the command above tests
on the test split the model was trained with. `data.*`/`seed` overrides apply on top; `data=<config>`
replaces the data config. Checkpoints are loaded with weights_only=True: no pickled code runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from src.tasks import get_task
from src.utils.checkpoints import read_checkpoint, resolve_ckpt_path
from src.utils.console import format_confusion, format_table, scalars
from src.utils.instantiate import instantiate_group, trainer_kwargs
from src.utils.log import get_logger, quiet_libraries
from src.utils.wrap import task_wrapper

log = get_logger("eval")


def data_config(cfg: DictConfig, checkpoint: dict) -> tuple[DictConfig, int]:
    """The data config and seed the checkpoint was trained with, under this command's overrides."""
    saved = checkpoint.get("datamodule_hyper_parameters")
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    if not saved or any(o.key_or_group == "data" for o in parsed):
        return cfg.data, cfg.seed
    data = OmegaConf.create(saved["data"])
    for o in parsed:
        if o.key_or_group.startswith("data."):
            OmegaConf.update(data, o.key_or_group.removeprefix("data."), o.value(), force_add=True)
    seed = cfg.seed if any(o.key_or_group == "seed" for o in parsed) else saved["seed"]
    return data, seed


@task_wrapper
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test one checkpoint; returns the test metrics."""
    quiet_libraries()
    if cfg.get("ckpt_path") in (None, "last"):
        raise ValueError(
            "ckpt_path must name a .ckpt file, e.g. ckpt_path=logs/sentiment/train/<run>/checkpoints/last.ckpt"
        )
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.output_dir)
    checkpoint = read_checkpoint(ckpt_path)
    trained_task = checkpoint.get("task")
    if trained_task != cfg.task.name:
        raise ValueError(
            f"{ckpt_path} was trained with task={trained_task}; evaluate it with task={trained_task} "
            f"(now task={cfg.task.name})."
        )
    hparams = checkpoint["hyper_parameters"]
    data, seed = data_config(cfg, checkpoint)
    L.seed_everything(seed, workers=True)

    DataModule, Module = get_task(cfg.task.name)
    model_cfg = hparams["model"]
    datamodule = DataModule(
        data,
        tokenizer=cfg.get("tokenizer") or model_cfg.get("tokenizer") or model_cfg["pretrained"],
        cache_dir=cfg.paths.cache_dir,
        seed=seed,
        trust_remote_code=bool(model_cfg.get("trust_remote_code", False)),
    )
    datamodule.prepare_data()
    datamodule.setup("test")
    if datamodule.label_names != hparams["label_names"]:
        raise ValueError(
            f"The data's labels {datamodule.label_names} differ from the checkpoint's {hparams['label_names']}. "
            "Fix: data.label_names=<the checkpoint's names, in order>."
        )
    del checkpoint  # the module below reads it again, weights only
    module = Module.load_from_checkpoint(ckpt_path, map_location="cpu", weights_only=True)

    trainer = L.Trainer(
        **trainer_kwargs(cfg.trainer),
        logger=instantiate_group(cfg.get("logger")) or False,
        callbacks=instantiate_group(cfg.get("callbacks")),
    )
    trainer.test(module, datamodule=datamodule)
    metrics = scalars(trainer.callback_metrics)
    if trainer.is_global_zero:
        print(format_confusion(module.confusion["test"], datamodule.label_names, "test confusion matrix"))
        print(format_table(f"{cfg.task.name} test of {ckpt_path}", metrics))
    return metrics


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
