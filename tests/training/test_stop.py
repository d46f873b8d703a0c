"""Stop signals in every stage of a run (src/training/stop.py, src/training/guard.py): data preparation, sanity
check, training, validation (the last epoch's too), test and export each end `interrupted` with the stage
named, exit status 128 + signal and, where training state exists, a resumable checkpoint; a second Ctrl-C
stops at once (130). Before: a signal in the sanity check or the test exited 0 with nothing recorded, one in
the last validation was logged and ignored (the run tested, exported and ended `ok`)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from src.utils.errors import RunInterrupted
from tests.conftest import compose_config, tiny_overrides

SIG = ["+callbacks.sig._target_=tests.helpers.SignalAt"]


def interrupted_run(overrides: list[str], run: Path) -> RunInterrupted:
    from src.train import train

    with pytest.raises(RunInterrupted) as caught:
        train(compose_config(overrides, output_dir=run))
    result = json.loads((run / "result.json").read_text())
    err = caught.value
    assert result["status"] == "interrupted" and result["stage"] == err.stage and result["signal"] == err.signum
    assert result["checkpoint"] == err.checkpoint
    return err


@pytest.mark.parametrize(
    ("stage", "extra", "signum"),
    [
        ("sanity check", ["+callbacks.sig.stage=sanity"], signal.SIGTERM),
        ("test", ["+callbacks.sig.stage=test"], signal.SIGTERM),
        ("training", ["+callbacks.sig.stage=train", "+callbacks.sig.step=2", "+callbacks.sig.signal_name=SIGUSR1"],
         signal.SIGUSR1),
    ],
)  # fmt: skip
def test_a_signal_ends_the_run_interrupted_in_the_stage_it_came(
    stage: str, extra: list[str], signum: int, tiny: dict, sentiment_dir: Path, tmp_path: Path
) -> None:
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none", *SIG, *extra)
    err = interrupted_run(overrides, tmp_path)
    assert err.stage == stage and err.signum == signum and err.exit_code == 128 + signum
    assert not (tmp_path / "hf_model").exists()  # nothing exported after the signal
    if stage == "sanity check":
        assert err.checkpoint is None  # no training state yet: rerun the command
    elif stage == "test":
        assert Path(err.checkpoint).name.startswith("best-")  # the fit is whole: resume tests and exports it
    else:
        assert Path(err.checkpoint) == tmp_path / "checkpoints" / "last.ckpt"


def test_a_signal_in_data_preparation_or_export_ends_interrupted(
    tiny: dict, sentiment_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import src.train
    from src.tasks.classification.data import ClassificationDataModule

    tokenize = ClassificationDataModule.tokenize

    def signalled(self: ClassificationDataModule, *args: object) -> object:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-tokenization, as a scheduler's would
        return tokenize(self, *args)

    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none", "data.max_length=96")
    monkeypatch.setattr(ClassificationDataModule, "tokenize", signalled)
    err = interrupted_run(overrides, tmp_path / "prep")
    assert (err.stage, err.checkpoint) == ("data preparation", None)
    monkeypatch.setattr(ClassificationDataModule, "tokenize", tokenize)  # the half-built cache was not kept:

    def export(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGUSR1)

    monkeypatch.setattr(src.train, "export_huggingface", export)
    err = interrupted_run(overrides, tmp_path / "export")  # ...the rerun tokenizes, trains, tests, then is stopped
    assert err.stage == "export" and err.exit_code == 138 and Path(err.checkpoint).name.startswith("best-")


def test_a_signal_in_the_last_validation_stops_and_the_resume_equals_the_uninterrupted_run(
    tiny: dict, sentiment_dir: Path, tmp_path: Path
) -> None:
    """SIGTERM in the 2nd batch of the last epoch's validation: last.ckpt is saved with that validation rewound,
    so the resumed run validates the epoch again, whole; its losses, validation losses and test metrics are
    the uninterrupted run's."""
    from src.train import train

    def run(path: Path, *extra: str) -> list[str]:
        record = ["+callbacks.rec._target_=tests.helpers.LossRecorder", f"+callbacks.rec.path={path}.jsonl"]
        return tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none", "data.eval_batch_size=16",
                              *record, *extra)  # fmt: skip

    full = train(compose_config(run(tmp_path / "full"), output_dir=tmp_path / "full"))
    cut = run(tmp_path / "cut")
    err = interrupted_run([*cut, *SIG, "+callbacks.sig.stage=validation", "+callbacks.sig.epoch=1",
                           "+callbacks.sig.batch=1"], tmp_path / "cut")  # fmt: skip
    assert err.stage == "validation" and Path(err.checkpoint).name == "last.ckpt"
    resumed = train(
        compose_config([*cut, "ckpt_path=last", "allow_changes=[callbacks.sig.*]"], output_dir=tmp_path / "cut")
    )
    rows = [[json.loads(line) for line in (tmp_path / f"{n}.jsonl").read_text().splitlines()] for n in ("full", "cut")]
    val = [[r["val_loss"] for r in run_rows if "val_loss" in r] for run_rows in rows]
    assert val[1][:1] + val[1][-1:] == pytest.approx(val[0], abs=1e-6)  # epoch 1 validated again, whole
    assert [r["loss"] for r in rows[1] if "loss" in r] == pytest.approx([r["loss"] for r in rows[0] if "loss" in r])
    tested = {k: v for k, v in full.items() if k.startswith("test/")}
    assert {k: resumed[k] for k in tested} == pytest.approx(tested, abs=1e-6)


def test_a_second_ctrl_c_stops_at_once_with_exit_130(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    twice = ["+callbacks.sig.step=2", "+callbacks.sig.signal_name=SIGINT", "+callbacks.sig.times=2"]
    overrides = tiny_overrides(tiny["bert"], sentiment_dir, "debug=limit", "logger=none", *SIG, *twice)
    err = interrupted_run(overrides, tmp_path)
    assert err.exit_code == 130 and "second Ctrl-C" in err.stage and err.checkpoint is None


def test_the_handlers_are_the_runs_own_and_given_back(tiny: dict, sentiment_dir: Path, tmp_path: Path) -> None:
    """Lightning's SIGTERM handler (exit 0, nothing saved) never stays in place during a loop; after the run the
    handlers before it are back (a notebook's, a scheduler's)."""
    from src.train import train

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    seen: list = []
    probe = ["+callbacks.probe._target_=tests.helpers.HandlerProbe", f"+callbacks.probe.path={tmp_path / 'h.json'}"]
    train(compose_config(tiny_overrides(tiny["bert"], sentiment_dir, "debug=fdr", *probe), output_dir=tmp_path))
    seen = json.loads((tmp_path / "h.json").read_text())
    assert seen and all(owner == "StopSignals.handle" for owner in seen), seen
    assert {s: signal.getsignal(s) for s in before} == before
