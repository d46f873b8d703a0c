"""Compose the project's configs from Python (tests, benchmarks, notebooks) exactly as the CLI does."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def compose_config(
    overrides: list[str], config_name: str = "train", output_dir: str | Path | None = None
) -> DictConfig:
    """The config `python src/<config_name>.py <overrides>` would run with, its output dir set to `output_dir`.

    The `hydra` node is registered as the current HydraConfig (so `${hydra:...}` resolves), then removed.
    """
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        extra = [f"paths.output_dir={output_dir}"] if output_dir is not None else []
        cfg = compose(config_name=config_name, overrides=[*overrides, *extra], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg
