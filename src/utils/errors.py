"""Errors the user can fix, and how the command line shows them.

A `UserError` (bad config key, bad data row, missing file or model) carries a message that names the key,
file, row or column and the fix; the entry points print that message alone and exit non-zero. Anything
else is a bug and keeps its traceback. `HYDRA_FULL_ERROR=1` or `-v` show the traceback of user errors too.

Each class also derives from the built-in exception a caller would expect (KeyError for config keys,
FileNotFoundError for missing files...), so `except ValueError` around our code keeps working.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

VERBOSE_FLAGS = ("-v", "--verbose")


class UserError(Exception):
    """An error in what the user gave us; the message says what and how to fix it."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class ConfigError(UserError, KeyError, ValueError):
    """A misspelt, missing or invalid config key or value."""


class DataError(UserError, ValueError):
    """Data that cannot be used as it is: the message names split, file, row or column."""


class MissingError(UserError, FileNotFoundError):
    """A path, checkpoint, dataset or model that does not exist (or is not reachable offline)."""


class LoadError(UserError, OSError):
    """Something exists but cannot be loaded (a directory without weights, a corrupt checkpoint...)."""


class RunFailed(UserError, RuntimeError):
    """The run itself failed in a way the user acts on (diverged loss, disk full): no traceback needed."""

    exit_code = 1


class RunInterrupted(Exception):
    """A signal (SIGTERM, SIGUSR1, SIGINT) stopped the run in `stage`, after a resumable checkpoint was saved
    where training state exists (`checkpoint`; None: nothing to resume from, e.g. during data preparation).

    `previous_handler` is the handler the signal had before the run (a scheduler's, e.g. submitit's requeue):
    it is called once the run has recorded its state, so the scheduler still gets its signal.
    """

    def __init__(
        self, signum: int, checkpoint: str | None, previous_handler: object = None, stage: str = "training"
    ) -> None:
        where = f"during {stage}; " if stage else ""
        super().__init__(f"interrupted by signal {signum} {where}resumable checkpoint: {checkpoint or 'none'}")
        self.signum, self.checkpoint, self.previous_handler, self.stage = signum, checkpoint, previous_handler, stage
        self.exit_code = 128 + signum  # the shell's convention for "killed by signal N"


def require_values(cfg: object) -> None:
    """Mandatory config values (`???`, e.g. data.path of data=sick_entailment) named before any work."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(
            f"Missing value for {', '.join(missing)}. Fix: give it on the command line, e.g. {missing[0]}=<value>."
        )


def strip_verbose_flag(argv: list[str]) -> list[str]:
    """Remove `-v`/`--verbose` (not a Hydra override) and remember it for `user_errors`."""
    if any(arg in VERBOSE_FLAGS for arg in argv):
        os.environ["ENCODER_FT_VERBOSE"] = "1"
    return [arg for arg in argv if arg not in VERBOSE_FLAGS]


def verbose() -> bool:
    return os.environ.get("ENCODER_FT_VERBOSE") == "1" or os.environ.get("HYDRA_FULL_ERROR") == "1"


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a UserError's message (no traceback) and exit with its code; interrupted runs exit 128+signal."""
    try:
        yield
    except RunInterrupted as err:
        print(f"Interrupted: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except UserError as err:
        if verbose():
            raise
        print(f"Error: {err}\n(traceback: rerun with -v or HYDRA_FULL_ERROR=1)", file=sys.stderr)
        sys.exit(err.exit_code)
