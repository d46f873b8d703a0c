"""User errors: the message, the key/file/row and the fix, no traceback (unless -v or HYDRA_FULL_ERROR=1)."""

from __future__ import annotations

import pytest

from src.utils.errors import ConfigError, DataError, RunInterrupted, strip_verbose_flag, user_errors, verbose
from tests.conftest import compose_config, run_cli


def test_user_errors_print_the_message_and_exit_nonzero(capsys, monkeypatch) -> None:
    monkeypatch.delenv("ENCODER_FT_VERBOSE", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_info, user_errors():
        raise DataError("train.csv: row 3: empty text. Fix: drop the row.")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: train.csv: row 3: empty text. Fix: drop the row.") and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info, user_errors():
        raise RunInterrupted(15, "run/checkpoints/last.ckpt")
    assert exit_info.value.code == 143
    with pytest.raises(ZeroDivisionError), user_errors():  # a bug keeps its traceback
        raise ZeroDivisionError("a bug")


def test_verbose_keeps_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("ENCODER_FT_VERBOSE", "0")  # restored (unset) after the test: strip_verbose_flag sets it
    assert strip_verbose_flag(["train.py", "-v", "data.path=x"]) == ["train.py", "data.path=x"]
    assert verbose()
    with pytest.raises(ConfigError), user_errors():
        raise ConfigError("data.batch_size=0: must be >= 1.")


def test_a_missing_mandatory_value_is_named(tmp_path) -> None:
    from src.train import train

    with pytest.raises(KeyError, match=r"Missing value for data.path\. Fix: give it on the command line"):
        train(compose_config(["data=sick_entailment", "logger=none"], output_dir=tmp_path))


def test_cli_shows_the_message_not_a_traceback(tmp_path) -> None:
    proc = run_cli("train", "data.path=./no/such/dir", "logger=none", f"hydra.run.dir={tmp_path}", expect_ok=False)
    assert proc.returncode == 2
    assert "Error: data.path='./no/such/dir' does not exist. Fix:" in proc.stderr and "Traceback" not in proc.stderr
