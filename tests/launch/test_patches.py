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


def test_the_validation_progress_the_guard_rewinds_still_exists() -> None:
    """src/training/guard.py `rewind` sets the validation loop's progress counters to "interrupted in the first
    batch" so a resumed run validates that epoch again, whole; Lightning's restart test reads these counters."""
    import inspect as _inspect

    from lightning.pytorch.loops.evaluation_loop import _EvaluationLoop
    from lightning.pytorch.loops.progress import _BatchProgress

    counters = {f.name for f in __import__("dataclasses").fields(_BatchProgress().total)}
    assert {"ready", "started", "processed", "completed"} <= counters
    source = _inspect.getsource(_EvaluationLoop.update_restart_stage)
    assert "RESTARTED_MID_EVALUATION" in source and "processed == self.batch_progress.total.started - 1" in source


def test_lightning_still_ends_a_sigtermed_loop_with_a_bare_systemexit() -> None:
    """src/launch/wrap.py turns Lightning's SIGTERMException (a SystemExit: exit status 0) into RunInterrupted."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    assert issubclass(SIGTERMException, SystemExit)
