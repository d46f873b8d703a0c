"""DDP launched by Lightning from a Hydra app, multiruns included.

Lightning starts ranks 1..N-1 by re-running the command line with `hydra.run.dir=<run dir>` appended.
Inside a multirun that command is the whole sweep (`-m lr=1e-5,2e-5`): every rank would start its own
sweep, in the wrong directory. We replace it with this job's own overrides, in run mode, in this job's
output directory, each rank logging to its own file (`train_ddp_process_<rank>.log`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher


def job_subprocess_cmd(local_rank: int) -> tuple[Sequence[str], str]:
    """Command and cwd that start `local_rank` of the current Hydra job (run or multirun)."""
    hydra_cfg = HydraConfig.get()
    script = str(Path(get_original_cwd(), sys.argv[0]).resolve())
    command = [sys.executable, script, *hydra_cfg.overrides.task]
    command += [
        f'hydra.run.dir="{hydra_cfg.runtime.output_dir}"',
        "hydra.mode=RUN",  # hparams_search configs set MULTIRUN: a rank must run, not sweep
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",  # rank 0 already wrote .hydra/
    ]
    return command, get_original_cwd()


def launch_ranks_from_job_config() -> None:
    """Make the Trainer's and Fabric's subprocess launchers start the other ranks with `job_subprocess_cmd`."""
    for module in (trainer_launcher, fabric_launcher):
        module._hydra_subprocess_cmd = job_subprocess_cmd


# environment variables Lightning's launcher sets in the launching process
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextlib.contextmanager
def fresh_distributed_state() -> Iterator[None]:
    """Leave no DDP state behind a job: the next job of a multirun (same process) must launch its own ranks.

    Without this, job 2 finds LOCAL_RANK/WORLD_SIZE from job 1, believes its ranks were started
    externally (as by torchrun) and waits for peers that never come, on a dead process group.
    """
    before = {name: os.environ.get(name) for name in DDP_ENV}
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
