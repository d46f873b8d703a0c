"""Predict with an exported model, one JSON line per input: labels, label sets, scores or entities.

    python src/predict.py model_dir=logs/classification/train/<run>/hf_model text="A moving, beautifully acted film."
    python src/predict.py model_dir=<pair model> text="A man is playing a guitar." text_pair="A man plays music."
    python src/predict.py model_dir=<run>/hf_model input=reviews.csv output=predictions.jsonl
    python src/predict.py model_dir=<run>/hf_model input=news.txt backend=onnx long_text=window

The task comes from the model's config.json. Records keep the input order; an empty text gets
{"error": "empty text"} in its place. See docs/inference.md for formats, long texts and ONNX.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `src` importable without `pip install -e .`
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig

from src.inference.inputs import read_inputs, write_jsonl
from src.inference.predictor import Predictor, Settings
from src.launch.wrap import task_wrapper
from src.utils.errors import ConfigError, strip_verbose_flag, user_errors
from src.utils.log import get_logger, quiet_libraries

log = get_logger("predict")


def build_predictor(cfg: DictConfig) -> Predictor:
    """The predictor the config describes (model, backend, device, batching and long-text settings)."""
    settings = Settings(**{k: cfg[k] for k in Settings.__dataclass_fields__})
    return Predictor(
        cfg.model_dir,
        backend=cfg.backend,
        device=cfg.device,
        onnx_path=cfg.get("onnx_path"),
        threads=cfg.get("threads"),
        settings=settings,
    )


def inputs_of(cfg: DictConfig) -> list[dict[str, str]]:
    """`text=` (and `text_pair=`) or the rows of `input=`: exactly one of them."""
    if (cfg.get("text") is None) == (cfg.get("input") is None):
        raise ConfigError(
            "Give exactly one of text=... (one text) or input=<file.txt|.csv|.jsonl>, "
            "e.g. python src/predict.py model_dir=<run>/hf_model 'text=\"A moving film.\"'"
        )
    if cfg.get("text") is not None:
        pair = {"text_pair": str(cfg.text_pair)} if cfg.get("text_pair") is not None else {}
        return [{"text": str(cfg.text), **pair}]
    if cfg.get("text_pair") is not None:
        raise ConfigError("text_pair= goes with text=; for a file, name its second column: text_pair_column=<name>.")
    columns = {"text": cfg.text_column, **({"text_pair": cfg.text_pair_column} if cfg.get("text_pair_column") else {})}
    return read_inputs(cfg.input, columns)


def quote_text_argument(argv: list[str]) -> list[str]:
    """`text=<anything>` (and `text_pair=`) as typed in a shell -> a Hydra-quoted string.

    Hydra would read commas as lists and choke on colons, brackets, quotes and `${`; a review has all of
    them. The value is wrapped in single quotes with the escapes Hydra and OmegaConf expect (quotes, `${`
    and the backslashes before them), so it arrives unchanged. A value already quoted is left alone.
    """
    escapes = {"'": "\\'", "${": "\\${", "": ""}
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
        if key in ("text", "text_pair") and not quoted:
            arg = f"{key}='" + re.sub(r"(\\*)('|\$\{|$)", lambda m: m.group(1) * 2 + escapes[m.group(2)], value) + "'"
        out.append(arg)
    return out


@task_wrapper
def predict(cfg: DictConfig) -> list[dict]:
    """Predict `text=` or `input=`; write the records (stdout, `output=` or the run dir) and return them."""
    quiet_libraries()
    texts = inputs_of(cfg)
    predictor = build_predictor(cfg)
    start = time.perf_counter()
    records = predictor.predict(texts, progress=bool(cfg.progress) and cfg.get("input") is not None)
    seconds = time.perf_counter() - start
    output = cfg.get("output")
    if output is None and cfg.get("input") is not None:
        output = Path(cfg.paths.output_dir) / "predictions.jsonl"
    write_jsonl(records, output)
    errors = sum("error" in r for r in records)
    log.info(
        "%s: %d inputs in %.1f s (%.1f inputs/s, backend=%s, device=%s); %d answered with an error record%s.",
        predictor.task.name, len(texts), seconds, len(texts) / max(seconds, 1e-9), cfg.backend, predictor.device,
        errors, f"; predictions in {output}" if output else "",
    )  # fmt: skip
    return records


@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def main(cfg: DictConfig) -> None:
    with user_errors():
        predict(cfg)


if __name__ == "__main__":
    sys.argv = quote_text_argument(strip_verbose_flag(sys.argv))
    main()
