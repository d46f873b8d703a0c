"""Predict with an exported model, one JSON line per input: labels, label sets, scores, entities, answers.

    python src/predict.py model_dir=logs/classification/train/<run>/hf_model text="A moving, beautifully acted film."
    python src/predict.py model_dir=<pair model> text="A man is playing a guitar." text_pair="A man plays music."
    python src/predict.py model_dir=<run>/hf_model input=reviews.csv output=predictions.jsonl
    python src/predict.py model_dir=<run>/hf_model input=news.txt backend=onnx long_text=window
    python src/predict.py model_dir=<run>/hf_model input=reviews.csv backend=onnx quantized=true   # model.int8.onnx
    python src/predict.py model_dir=<run>/hf_model input=pairs.csv text_column=premise text_pair_column=hypothesis

The task comes from the model's config.json, and with it the input fields (`<field>=<value>` on the command
line, or columns of `input=`). Records keep the input order; an empty text gets {"error": "empty <field>"}
in its place. See docs/inference.md for formats, long texts and ONNX.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig, OmegaConf

from src.cli import PredictConfig, prepare
from src.inference.inputs import Field, read_inputs, write_jsonl
from src.inference.predictor import Predictor, Settings, load_config
from src.launch.wrap import task_wrapper
from src.tasks import task_for_model
from src.training.stop import STOP
from src.utils.errors import ConfigError, strip_verbose_flag, user_errors
from src.utils.log import get_logger, quiet_libraries
from src.utils.schema import fields_of

log = get_logger("predict")
prepare()  # config schemas, resolvers, config errors as user errors: before Hydra composes


def build_predictor(cfg: DictConfig, task: Any = None, config: Any = None) -> Predictor:
    """The predictor the config describes (model and its task, backend, device, batching and long-text settings);
    `task` and `config` when the caller already read them."""
    config = config or load_config(cfg.model_dir)
    task = task or task_for_model(config, f"model_dir={cfg.model_dir!r}")
    settings = Settings(**{k: cfg[k] for k in Settings.__dataclass_fields__})
    return Predictor(
        cfg.model_dir,
        task,
        config=config,
        backend=cfg.backend,
        device=cfg.device,
        onnx_path=cfg.onnx_path,
        threads=cfg.threads,
        settings=settings,
        quantized=cfg.quantized,
    )


def config_keys() -> set[str]:
    """predict.py's own config keys and groups (its schema): every other `key=value` is an input field."""
    return set(fields_of(PredictConfig)) | {"hydra"}


def inputs_of(cfg: DictConfig, fields: list[Field], model: str) -> list[dict]:
    """The fields typed on the command line (one input) or the rows of `input=`: exactly one of them."""
    given = OmegaConf.to_container(cfg.fields)
    names = [f.name for f in fields]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(
            f"{unknown[0]}=...: not an input field of this {model} model (its fields: {names}) nor a predict.py "
            f"config key ({', '.join(sorted(config_keys() - {'paths', 'hydra', 'fields', 'columns', 'task'}))})."
        )
    if bool(given) == (cfg.input is not None):
        example = " ".join(f"{f.name}=..." for f in fields if f.required)
        raise ConfigError(
            f"Give exactly one of the input's fields on the command line ({example}) or input=<file.txt|.csv|.jsonl>,"
            f" e.g. python src/predict.py model_dir=<run>/hf_model {example}"
        )
    if cfg.input is not None:
        return read_inputs(cfg.input, fields, OmegaConf.to_container(cfg.columns))
    row = {}
    for field in fields:
        if field.name in given:
            row[field.name] = list_argument(field, given[field.name]) if field.many else str(given[field.name])
    return [row]


def list_argument(field: Field, value: object) -> list[str]:
    """A list field typed on the command line: a JSON array of strings."""
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
        raise ConfigError(
            f"{field.name}={value!r}: a list of texts is typed as a JSON array, e.g. "
            f'{field.name}=\'["first", "second"]\' (single quotes around it in a shell).'
        )
    return parsed


def field_arguments(argv: list[str]) -> list[str]:
    """Input fields as typed in a shell -> overrides: `<field>=<anything>` becomes `+fields.<field>='...'` (quoted
    for Hydra), `<field>_column=<name>` becomes `+columns.<field>=<name>`; predict.py's own keys, dotted keys,
    `+`/`~` overrides and flags are left alone.

    Hydra would read commas as lists and choke on colons, brackets, quotes and `${`; a review has all of
    them. The value is wrapped in single quotes with the escapes Hydra and OmegaConf expect (quotes, `${`
    and the backslashes before them), so it arrives unchanged. A value already quoted is kept as it is.
    """
    escapes = {"'": "\\'", "${": "\\${", "": ""}
    known = config_keys()
    out = []
    for arg in argv:
        key, equals, value = arg.partition("=")
        if not equals or key in known or not key.isidentifier():
            out.append(arg)
        elif key.endswith("_column"):
            out.append(f"+columns.{key.removesuffix('_column')}={value}")
        else:
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
            if not quoted:
                value = "'" + re.sub(r"(\\*)('|\$\{|$)", lambda m: m.group(1) * 2 + escapes[m.group(2)], value) + "'"
            out.append(f"+fields.{key}={value}")
    return out


@task_wrapper
def predict(cfg: DictConfig) -> list[dict]:
    """Predict `text=` or `input=`; write the records (stdout, `output=` or the run dir) and return them."""
    quiet_libraries()
    config = load_config(cfg.model_dir)
    task = task_for_model(config, f"model_dir={cfg.model_dir!r}")
    texts = inputs_of(cfg, task.fields(dict(getattr(config, "finetune", None) or {})), task.name)  # before loading
    predictor = build_predictor(cfg, task, config)
    STOP.stage = "prediction"
    start = time.perf_counter()
    records = predictor.predict(texts, progress=bool(cfg.progress) and cfg.input is not None)
    seconds = time.perf_counter() - start
    output = cfg.output
    if output is None and cfg.input is not None:
        output = Path(cfg.paths.output_dir) / "predictions.jsonl"
    write_jsonl(records, output)
    errors = sum("error" in r for r in records)
    log.info(
        "%s: %d inputs in %.1f s (%.1f inputs/s, backend=%s, model=%s (%s), device=%s); %d answered with an error "
        "record%s.", predictor.task.name, len(texts), seconds, len(texts) / max(seconds, 1e-9), cfg.backend,
        predictor.model_file, predictor.precision, predictor.device, errors,
        f"; predictions in {output}" if output else "",
    )  # fmt: skip
    return records


@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def main(cfg: DictConfig) -> None:
    with user_errors():
        predict(cfg)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *field_arguments(strip_verbose_flag(sys.argv)[1:])]
    main()
