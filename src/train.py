"""Fine-tune a transformer encoder, test the best checkpoint, export it for `transformers.pipeline`.

python src/train.py                                  # IMDB sentiment (text classification) with DistilBERT
python src/train.py model=bert trainer=gpu           # bf16 where the GPU supports it, TF32 matmuls
python src/train.py task=ner                         # CoNLL-2003 named entities
python src/train.py data.path=../shared/data/imdb model.pretrained=/models/minilm   # fully offline
python src/train.py experiment=demo                  # tiny offline demo (`make demo` builds its assets)
python src/train.py hydra.run.dir=<run dir> ckpt_path=last                          # resume a run
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenization is done before workers fork

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf, open_dict

from src.cli import prepare
from src.data.base import TokenizedDataModule
from src.launch.ddp import launch_ranks_from_job_config
from src.launch.sweep import write_result
from src.launch.wrap import task_wrapper
from src.reports.benchmark import benchmark_scores
from src.tasks import get_task
from src.tasks.base import Task
from src.training.checkpoints import (
    AtomicCheckpointIO,
    best_checkpoint,
    best_score,
    export_huggingface,
    read_checkpoint,
    resolve_ckpt_path,
)
from src.training.export import exported_module
from src.training.run_dir import RunLock, RunRecord, check_resume
from src.training.runtime import check_training_length, configure_runtime, trainer_kwargs
from src.training.stop import STOP
from src.training.wandb_logger import log_export
from src.utils.console import flat_config, format_table, scalars
from src.utils.errors import strip_verbose_flag, user_errors
from src.utils.instantiate import instantiate_group
from src.utils.log import get_logger, quiet_libraries
from src.utils.schema import flagged, plain

log = get_logger("train")
prepare()  # config schemas, resolvers, config errors as user errors: before Hydra composes


def prepared_data(cfg: DictConfig, task: Task) -> TokenizedDataModule:
    """The run's data, validated and tokenized (once: cached) before any model loads."""
    STOP.stage = "data preparation"
    datamodule = task.datamodule(
        cfg.data,
        tokenizer=cfg.model.tokenizer or cfg.model.pretrained,
        cache_dir=cfg.paths.cache_dir,
        seed=cfg.seed,
        trust_remote_code=cfg.model.trust_remote_code,
        tokenizer_key="model.tokenizer" if cfg.model.tokenizer else "model.pretrained",
    )
    datamodule.prepare_data()  # errors surface here, before the model loads
    datamodule.setup("fit")  # the label names size the classification head
    return datamodule


def build(cfg: DictConfig, task: Task, record: dict) -> tuple:
    """Data, Trainer, module: in that order. `record` is the run's config as given (stored in checkpoints)."""
    datamodule = prepared_data(cfg, task)
    options = task.options(plain(cfg.task))
    with open_dict(cfg):  # `auto` -> the task's metric for this data (callbacks below interpolate it)
        cfg.task.monitor = task.monitor(cfg.task.monitor, datamodule.info)
    launch_ranks_from_job_config()  # DDP ranks rerun this job's config, also inside a multirun
    trainer = L.Trainer(
        **trainer_kwargs(cfg.trainer),
        logger=instantiate_group(cfg.logger) or False,
        callbacks=[*instantiate_group(cfg.callbacks, task=task), RunRecord(record)],
        plugins=[AtomicCheckpointIO()],
    )
    module = task.module(
        plain(cfg.model),
        datamodule.model_args(cfg.model.class_weights),
        options,
        steps_per_epoch=datamodule.batches_per_epoch(trainer.world_size),
    )
    if (features := module.feature_source()) is not None:  # a frozen encoder's outputs, computed once per split
        datamodule.attach_features(features)
    return datamodule, trainer, module


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (or resume), test the best checkpoint, export it; returns every logged metric. The run directory is
    locked for the run: a second process cannot write it."""
    with RunLock(cfg.paths.output_dir):
        return run(cfg)


def run(cfg: DictConfig) -> dict[str, float]:
    start = time.perf_counter()
    quiet_libraries()
    configure_runtime(cfg)
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir)  # fail before any work
    # the config as given, interpolations unresolved: `${paths.output_dir}/checkpoints` is the same setting in a
    # moved run directory, and `task.monitor: auto` is compared before the data resolves it
    record = OmegaConf.to_container(cfg, resolve=False)
    if ckpt_path and cfg.train:  # a resume continues this run: the same config, or changes named and recorded
        saved = read_checkpoint(ckpt_path).get("run_config")
        check_resume(saved, record, ckpt_path, output_dir, safe=flagged(cfg, "safe"))
    STOP.checkpoint = ckpt_path  # what an interrupted start can resume from
    if cfg.train:
        check_training_length(cfg.trainer)
    task = get_task(cfg.task.name)
    L.seed_everything(cfg.seed, workers=True)
    datamodule, trainer, module = build(cfg, task, record)
    for logger in trainer.loggers:
        logger.log_hyperparams(flat_config(cfg))

    metrics: dict[str, float] = {}
    if cfg.train:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics.update(scalars(trainer.callback_metrics))
        if (score := best_score(trainer)) is not None:
            metrics[f"{cfg.task.monitor}_best"] = score
    best = best_checkpoint(trainer) if cfg.train else ckpt_path  # train=false: the checkpoint given is tested, exported
    STOP.stage, STOP.checkpoint = "test", best
    if cfg.test:
        trainer.test(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
        metrics.update(scalars(trainer.callback_metrics))

    summary: dict[str, object] = {"output dir": output_dir, "checkpoint": best or "none (weights in memory)"}
    if cfg.export:
        STOP.stage = "export"
        exported = exported_module(task.load_module, trainer, module, best, cfg.model)  # every rank: FSDP gathers
        if trainer.is_global_zero:
            summary["hf model"] = export_huggingface(exported, datamodule.tokenizer, output_dir / "hf_model")
            log_export(trainer.loggers, output_dir / "hf_model", {"checkpoint": best, **metrics})
    summary.update({k: v for k, v in sorted(metrics.items()) if k.startswith(("val/", "test/", "train/"))})
    if trainer.is_global_zero:
        monitor, test_metric = cfg.task.monitor, cfg.task.monitor.replace("val/", "test/", 1)
        benchmark = benchmark_scores(datamodule.cfg.benchmark, metrics)
        write_result(
            output_dir, status="pruned" if any(getattr(c, "pruned", False) for c in trainer.callbacks) else "ok",
            monitor=monitor, best_val=metrics.get(f"{monitor}_best", metrics.get(monitor)),
            test=metrics.get(test_metric), seconds=round(time.perf_counter() - start, 1), benchmark=benchmark,
        )  # fmt: skip
        if cfg.test and "test" in module.predictions:
            text = task.console_summary(module.predictions["test"], {**datamodule.info, **module.export_info()})
            if text:
                print(text)
        print(format_table(f"{task.name} run summary", summary))
        if benchmark:
            print(format_table(f"{datamodule.cfg.benchmark.name}, as published tables report it", benchmark))
    return metrics


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns `optimized_metric` for sweepers (NaN for a failed multirun job)."""
    with user_errors():
        metrics = train(cfg)
    return metrics.get(cfg.optimized_metric, float("nan"))


if __name__ == "__main__":
    sys.argv = strip_verbose_flag(sys.argv)
    main()
