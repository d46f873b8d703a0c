"""The config schemas (src/cli.py, src/utils/schema.py): every key declared once with its type, default, allowed
values and help; wrong types, values out of range and misspelt keys (on the command line, in a YAML file, or
added with `+`) stop the command before any work with the key, the value, what is allowed and the fix, exit 2.

Before: `data.batch_size=abc` ended in a ValueError traceback, `=0` in ZeroDivisionError, `data.val_size=1.5` was read
as one row (a torchmetrics shape error after training), a misspelt `+model.*` key was only caught by a Python key set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from src.cli import SHARED, reference, task_schemas
from tests.conftest import ROOT, compose_config, run_cli


def test_every_schema_key_has_its_help() -> None:
    for path, schema in {**SHARED, **task_schemas()}.items():
        for f in dataclasses.fields(schema):
            assert f.name == "defaults" or f.metadata.get("help"), f"{path}: {f.name} has no help"


def test_the_configuration_reference_is_generated_from_the_schemas() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == reference() + "\n", "regenerate it: python -m src.cli > docs/configuration.md"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=abc", r"data.batch_size='abc': not of the right type .*Allowed: an integer >= 1\. Fix: "),
        ("trainer.max_epoch=3", r"Unknown config key trainer.max_epoch\. Did you mean trainer.max_epochs\?"),
        ("seed=x", r"seed='x': not of the right type .*Allowed: an integer"),
    ],
)
def test_wrong_types_and_unknown_keys_fail_when_composing(override: str, message: str) -> None:
    with pytest.raises(KeyError, match=message):
        compose_config([override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=0", r"data.batch_size=0: out of range .*Allowed: an integer >= 1"),
        ("data.val_size=1.5", r"data.val_size=1.5: a fraction must lie strictly between 0 and 1"),
        ("model.optimizer.lr=-1", r"model.optimizer.lr=-1.0: out of range .*Allowed: a number > 0"),
        ("data.truncation=middle", r"data.truncation='middle': not an allowed value .*\['head', 'tail', 'head\+"),
        ("task.monitor_mode=up", r"task.monitor_mode='up': not an allowed value .*one of \['max', 'min'\]"),
        ("+data.batch_sise=8", r"Unknown config key data.batch_sise\. Did you mean data.batch_size\?"),
        ("+model.freeze_bakbone=true", r"Unknown config key model.freeze_bakbone\. Did you mean model.freeze_backbone"),
        ("task.threshold=1.5", r"task.threshold=1.5: probabilities must lie strictly between 0 and 1"),
    ],
)
def test_values_out_of_range_and_added_keys_fail_before_any_work(override: str, message: str, tmp_path: Path) -> None:
    from src.train import train

    with pytest.raises(KeyError, match=message):
        train(compose_config([override, "data.path=/nonexistent", "logger=none"], output_dir=tmp_path))


def test_the_command_line_shows_the_key_and_the_fix_and_exits_2(tmp_path: Path) -> None:
    """A misspelt key in a user's own YAML file (found through hydra.searchpath), as a user runs it: the message,
    no traceback, exit 2 (wrong types and ranges give their messages through the same path: the tests above)."""
    mine = tmp_path / "configs" / "data"
    mine.mkdir(parents=True)
    (mine / "mine.yaml").write_text("# my data: python src/train.py data=mine\ndefaults:\n  - _text\n  - _self_\n\n"
                                    "path: x.csv\nbatch_sise: 8\n")  # fmt: skip
    proc = run_cli("train", f"hydra.searchpath=[file://{tmp_path / 'configs'}]", "data=mine",
                   f"hydra.run.dir={tmp_path / 'b'}", expect_ok=False)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "Unknown config key data.batch_sise. Did you mean data.batch_size?" in proc.stderr
