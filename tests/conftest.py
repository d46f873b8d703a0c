"""Shared fixtures: tiny local backbones and synthetic data, an offline environment, CLI/compose helpers.

Nothing here touches the network: HF_HUB_OFFLINE and WANDB_MODE are set before any library is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ["PROJECT_ROOT"] = str(ROOT)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from src.cli import compose_config  # noqa: E402  (after the environment: transformers reads it at import)

# pytest-xdist workers share the cores: one intra-op thread pool per core, not per worker (oversubscribed OpenMP
# pools spin against each other). Subprocesses (CLI tests, DDP ranks) inherit the setting.
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run when CUDA is present and are skipped (with the reason) otherwise."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run on a GPU machine: pytest -m gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tokenized-data cache of the test session, away from the user's .cache/."""
    os.environ["ENCODER_FT_CACHE"] = str(tmp_path_factory.mktemp("token-cache"))


@contextmanager
def no_lazy_columns() -> Iterator[None]:
    """Fail on any element-wise read of a lazy datasets Column (`split[name]`) inside the block: a table lookup
    per element, which made validating a million rows take 17 minutes. Data modules read whole columns through
    Arrow (src.data.base.values/column)."""
    from datasets.arrow_dataset import Column

    def refuse(*_: object) -> None:
        raise AssertionError("a datasets Column read element by element: use src.data.base.values()/column()")

    saved = Column.__getitem__, Column.__iter__
    Column.__getitem__ = Column.__iter__ = refuse
    try:
        yield
    finally:
        Column.__getitem__, Column.__iter__ = saved


def tiny_corpus() -> list[str]:
    """The demo's texts and every registered task's synthetic texts: a task added by a fork is known to the
    tiny tokenizers without editing this file."""
    from src.demo.__main__ import demo_corpus
    from src.tasks import get_task, task_names

    texts = demo_corpus()
    for name in task_names():
        for variant in get_task(name).variants().values():
            texts += variant.corpus()
    return texts


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random bert / distilbert / roberta backbones with tokenizers trained on the synthetic corpus."""
    from src.demo.backbones import build_tiny_backbone

    root, texts = tmp_path_factory.mktemp("tiny"), tiny_corpus()
    return {kind: build_tiny_backbone(kind, root / kind, texts) for kind in ("bert", "distilbert", "roberta")}


@pytest.fixture(scope="session")
def sentiment_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from src.tasks.classification.synthetic import write_sentiment_data

    return write_sentiment_data(tmp_path_factory.mktemp("sentiment"), n_train=600, n_test=200)


def data_config(task: str, data: str, **overrides: object) -> dict:
    """The composed `data` group of `task=<task> data=<data>`, as a plain dict, with `overrides` applied."""
    from omegaconf import OmegaConf

    composed = compose_config([f"task={task}", f"data={data}"]).data
    return {**OmegaConf.to_container(composed, resolve=True), **overrides}


def tiny_overrides(model_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    """Overrides for a quick CPU run of text classification (IMDB-style reviews) on tiny assets."""
    return [
        "model=bert",
        f"model.pretrained={model_dir}",
        f"data.path={data_dir}",
        "data.max_length=128",
        "data.batch_size=32",
        "data.num_workers=0",
        "trainer=cpu",
        "logger=none",
        "model.optimizer.lr=2e-3",
        *extra,
    ]


def run_cli(script: str, *overrides: str, expect_ok: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python src/<script>.py overrides...` as a user would, from the repository root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, f"src/{script}.py", *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"{script}.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def ner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic CoNLL text files: train.txt, valid.txt, test.txt."""
    from src.tasks.ner.synthetic import write_ner_data

    return write_ner_data(tmp_path_factory.mktemp("ner"), n_train=300, n_val=60, n_test=60)


def ner_overrides(model_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    """Overrides for a quick CPU run of the NER task on tiny assets."""
    return ["task=ner", *tiny_overrides(model_dir, data_dir, "model.optimizer.lr=3e-3", *extra)]
