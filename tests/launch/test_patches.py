"""The private names of Lightning and transformers this template relies on, checked by name: an upgrade that
renames or removes one fails here, loudly, instead of breaking DDP multiruns or resumes quietly."""

from __future__ import annotations

import inspect

from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher


def test_the_ddp_relaunch_hook_still_exists() -> None:
    """src/launch/ddp.py replaces `_hydra_subprocess_cmd` (how Lightning restarts ranks 1..N under Hydra):
    there is no public way to make a rank rerun one multirun job instead of the whole sweep."""
    for module in (trainer_launcher, fabric_launcher):
        assert callable(getattr(module, "_hydra_subprocess_cmd", None)), module.__name__
        assert "_hydra_subprocess_cmd" in inspect.getsource(module._SubprocessScriptLauncher)


def test_the_csv_writer_keeps_the_attributes_the_resumable_logger_sets() -> None:
    """src/training/csv_logger.py writes back the kept rows and sets the writer's header (`metrics_keys`)."""
    source = "".join(inspect.getsource(c) for c in ExperimentWriter.__mro__ if c.__module__.startswith("lightning"))
    assert "self.metrics_keys" in source and "self.metrics_file_path" in source
    assert "rm_file(self.metrics_file_path)" in source  # the deletion the logger works around


def test_the_loop_counter_exact_resume_reads_still_exists() -> None:
    """src/data/base.py saves how many batches of the epoch ran (`batch_progress.current.processed`)."""
    from lightning.pytorch.loops.progress import _BatchProgress

    assert "processed" in {f.name for f in __import__("dataclasses").fields(_BatchProgress().current)}
