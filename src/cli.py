"""What every entry point (train, eval, predict, export) and every in-process composition (tests, benchmarks,
notebooks) sets up before Hydra composes a config: the schemas of the primary configs and of every group
(each registered task brings its own, from its folder's config.py), the resolvers the YAML files use, and
config errors shown as the key, the value, what is allowed and the fix (exit status 2), not Hydra's trace.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from src.inference.predictor import Settings
from src.launch.gpu_pool import gpu_count
from src.models.config import SCHEMAS as MODEL_SCHEMAS
from src.reports.report import md_cell
from src.tasks import REGISTRY
from src.tasks.config import TaskConfig
from src.training.config import SCHEMAS as TRAINER_SCHEMAS
from src.training.run_dir import run_subdir
from src.utils.errors import verbose
from src.utils.schema import allowed, key, translate

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MATMUL = ("highest", "high", "medium")


@dataclass
class PathsConfig:
    """`paths.*`: where a run's files go."""

    root_dir: str = key("${oc.env:PROJECT_ROOT,.}", "the repository root (set by the entry points)", safe=True)
    log_dir: str = key("${paths.root_dir}/logs", "run directories: <log_dir>/<task>/<train|eval>/<time>", safe=True)
    cache_dir: str = key(
        "${oc.env:ENCODER_FT_CACHE,${paths.root_dir}/.cache}", "tokenized datasets (safe to delete)", safe=True
    )
    output_dir: str = key(
        "${hydra:runtime.output_dir}", "this run's directory (checkpoints, logs, hf_model)", safe=True
    )


@dataclass
class RunConfig:
    """Keys of every command that runs a model."""

    task: Any = key(help="the task group (task=classification|ner|tagging|...): name, monitor and its options")
    trainer: Any = key(help="the trainer group (trainer=default|cpu|gpu|ddp|fsdp|deepspeed)")
    callbacks: Any = key(None, "the callbacks group: leaf objects (`_target_`), each checked against its class")
    logger: Any = key(None, "the logger group (logger=wandb|csv|tensorboard|none)")
    paths: Any = key(help="the paths group")
    data: Any = key(help="the data group (data=<config>): the task family's data keys")
    seed: int = key(42, "seeds Python, NumPy and torch (and the carved splits): same seed, same metrics on CPU")
    float32_matmul_precision: str = key(
        "high", "CUDA: fp32 matmuls on TF32 tensor cores (highest = exact fp32); ignored on CPU", choices=MATMUL
    )


@dataclass
class TrainConfig(RunConfig):
    """`python src/train.py`: the top-level keys (configs/train.yaml)."""

    model: Any = key(help="the model group (model=distilbert|bert|roberta)")
    train: bool = key(True, "fit (false: test and export the checkpoint given by ckpt_path)", safe=True)
    test: bool = key(True, "test the best checkpoint after fitting", safe=True)
    export: bool = key(True, "save the tested weights as a Hugging Face model dir: <output_dir>/hf_model", safe=True)
    ckpt_path: str | None = key(
        None,
        "resume: last (<output_dir>/checkpoints/last.ckpt; with hydra.run.dir=<run dir>), "
        "auto (last if any), or a checkpoint file",
        safe=True,
    )
    allow_changes: list[str] = key(
        factory=list,
        help="resume: keys (or patterns) whose change from the checkpoint's "
        "run is accepted, recorded in <run>/resumes.jsonl",
        safe=True,
    )
    optimized_metric: str | None = key(
        "${task.monitor}_best", "what train.py returns to sweepers: the best validation score of the run", safe=True
    )


@dataclass
class EvalConfig(RunConfig):
    """`python src/eval.py`: the top-level keys (configs/eval.yaml)."""

    ckpt_path: str = key(help="the checkpoint to test (a .ckpt file or a DeepSpeed checkpoint directory)")
    tokenizer: str | None = key(None, "another tokenizer than the checkpoint's (a hub id or local dir)")
    trust_remote_code: bool = key(
        False, "run Python shipped with the tokenizer/model; only this command line can turn it on, never a checkpoint"
    )


@dataclass
class InferenceConfig:
    """Keys of the commands that read an exported model directory."""

    task: Any = key(help="names the run directory only (logs/inference/<command>/<time>)")
    paths: Any = key(help="the paths group")
    model_dir: str = key(help="a directory written by src/train.py (<run>/hf_model), or a hub id when online")
    output: str | None = key(None, "where the results go; null: the command's default (see its config)")


@dataclass
class PredictConfig(Settings, InferenceConfig):
    """`python src/predict.py`: the top-level keys (configs/predict.yaml); batching keys from `Settings`."""

    fields: dict[str, Any] = key(factory=dict, help="one input from the command line: <field>=<value> lands here")
    input: str | None = key(None, "or a file: .txt (one text per line), .csv (a column per field), .jsonl")
    columns: dict[str, Any] = key(
        factory=dict, help="file columns of the input fields not named after them: <field>_column=<name> lands here"
    )
    backend: str = key(
        "torch", "torch | onnx (runs <model_dir>/model.onnx, written by src/export.py)", choices=("torch", "onnx")
    )
    onnx_path: str | None = key(None, "backend=onnx: another .onnx file than <model_dir>/model.onnx")
    quantized: bool = key(
        False, "backend=onnx: run the int8 model <model_dir>/model.int8.onnx (src/export.py quantize=int8)"
    )
    device: str = key("auto", "auto (cuda when available) | cpu | cuda", choices=("auto", "cpu", "cuda"))
    threads: int | None = key(None, "CPU threads of torch / onnxruntime; null = the library default", ge=1)
    progress: bool = key(True, "a progress bar while predicting a file")


@dataclass
class ExportConfig(InferenceConfig):
    """`python src/export.py`: the top-level keys (configs/export.yaml)."""

    opset: int = key(18, "ONNX opset of the graph (18 = the torch 2.13 exporter's own)", ge=7)
    tolerance: float = key(
        1e-4, "parity check: the largest |PyTorch - onnxruntime| output allowed, else the file is deleted", gt=0
    )
    quantize: str | None = key(
        None,
        "int8: also write <output stem>.int8.onnx (dynamic int8 weights, onnxruntime) and compare its validation "
        "metrics with fp32's",
        choices=("int8",),
        allowed="null or 'int8'",
    )
    ckpt_path: str | None = key(
        None,
        "quantize=int8: the checkpoint whose validation split the int8 and fp32 models are scored on; null = "
        "<model_dir>/../checkpoints/best-*.ckpt, else last.ckpt",
    )


SHARED = {
    "_train": TrainConfig,
    "_eval": EvalConfig,
    "_predict": PredictConfig,
    "_export": ExportConfig,
    "paths/_schema": PathsConfig,
    "task/_task": TaskConfig,
    **MODEL_SCHEMAS,
    **TRAINER_SCHEMAS,
}


def task_schemas() -> dict[str, type]:
    """Every registered task's schemas (its folder's config.py `SCHEMAS`): a fork's task brings its own keys."""
    found: dict[str, type] = {}
    for entry in REGISTRY.values():
        module = entry.split(":")[0] + ".config"
        if importlib.util.find_spec(module) is not None:
            found |= importlib.import_module(module).SCHEMAS
    return found


@functools.cache
def prepare() -> None:
    """Register the schemas and resolvers and show config errors as user errors; once per process."""
    store = ConfigStore.instance()
    for path, node in {**SHARED, **task_schemas()}.items():
        group, _, name = path.rpartition("/")
        store.store(group=group or None, name=name, node=node)
    OmegaConf.register_new_resolver("gpu_count", gpu_count, replace=True)  # launcher=gpu_pool: jobs = GPUs
    OmegaConf.register_new_resolver("run_subdir", run_subdir, replace=True)  # never over a run's first config
    import hydra._internal.utils as hydra_utils  # the one private name patched here (tests/launch/test_patches.py)

    hydra_utils.run_and_report = _reported(hydra_utils.run_and_report)


def _reported(run_and_report: Any) -> Any:
    """Hydra's error printer, but a config error (wrong type, unknown key, missing value) is shown as the key,
    the value, what is allowed and the fix, and exits 2 (rerun with -v or HYDRA_FULL_ERROR=1 for the trace)."""

    def wrapped(func: Any) -> Any:
        def guarded() -> Any:
            try:
                return func()
            except Exception as err:
                error = translate(err)
                if error is None or verbose():
                    raise
                print(f"Error: {error}\n(traceback: rerun with -v or HYDRA_FULL_ERROR=1)", file=sys.stderr)
                raise SystemExit(2) from None

        return run_and_report(guarded)

    return wrapped


def compose_config(
    overrides: list[str], config_name: str = "train", output_dir: str | Path | None = None
) -> DictConfig:
    """The config `python src/<config_name>.py <overrides>` would run with, its output dir set to `output_dir`.

    The `hydra` node is registered as the current HydraConfig (so `${hydra:...}` resolves), then removed. A config
    error raises the ConfigError the command line would show.
    """
    prepare()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        extra = [f"paths.output_dir={output_dir}"] if output_dir is not None else []
        try:
            cfg = compose(config_name=config_name, overrides=[*overrides, *extra], return_hydra_config=True)
        except Exception as err:
            error = translate(err)
            if error is None:
                raise
            raise error from None
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def reference() -> str:
    """docs/configuration.md: every key of every schema (group, key, allowed values, default, help), generated from
    the schemas so it cannot drift (tests/test_cli.py compares the file with this)."""
    sections = [
        ("Top level: `python src/train.py`", "", TrainConfig),
        ("Top level: `python src/eval.py`", "", EvalConfig),
        ("Top level: `python src/predict.py`", "", PredictConfig),
        ("Top level: `python src/export.py`", "", ExportConfig),
        ("`paths` (paths=default)", "paths.", PathsConfig),
        (
            "`trainer` (trainer=default|cpu|gpu|ddp|fsdp|deepspeed; precision=...)",
            "trainer.",
            TRAINER_SCHEMAS["trainer/_schema"],
        ),
        ("`model` (model=distilbert|bert|roberta)", "model.", MODEL_SCHEMAS["model/_encoder"]),
        ("`model.optimizer` (model/optimizer=adamw)", "model.optimizer.", MODEL_SCHEMAS["model/optimizer/_adamw"]),
        (
            "`model.scheduler` (model/scheduler=linear|cosine)",
            "model.scheduler.",
            MODEL_SCHEMAS["model/scheduler/_warmup"],
        ),
        ("`task` (every task)", "task.", TaskConfig),
    ]
    seen = {TaskConfig}
    for path, schema in task_schemas().items():
        if schema not in seen:
            seen.add(schema)
            group = path.split("/")[0]
            sections.append((f"`{group}` of {schema.__doc__.splitlines()[0].strip()}", f"{group}.", schema))
    lines = [
        "# Configuration reference",
        "",
        "Generated from the schemas (`python -m src.cli > docs/configuration.md`; a test keeps it current). Each key",
        "is declared once, in a dataclass next to the code that reads it; the YAML files under `configs/` carry values",
        "only. A value of the wrong type, out of range or a misspelt key stops the command before any work with the",
        "key, the value, what is allowed and the fix (exit status 2). `safe`: a resumed run may change it.",
        "",
    ]
    for title, prefix, schema in sections:
        lines += [f"## {title}", "", "| key | allowed | default | safe | help |", "|---|---|---|---|---|"]
        for f in dataclasses.fields(schema):
            if f.name == "defaults":
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            shown = (
                "(required)"
                if default == "???"
                else f"`{default!r}`"
                if not isinstance(default, str)
                else f"`{default}`"
            )
            safe = "yes" if f.metadata.get("safe") else ""
            what, help_text = md_cell(allowed(f, schema)), md_cell(f.metadata.get("help", ""))
            lines.append(f"| `{prefix}{f.name}` | {what} | {shown} | {safe} | {help_text} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    prepare()
    print(reference())
