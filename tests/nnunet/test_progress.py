"""`hanseg status` during a training: the epoch, the total, the last pseudo-Dice and an estimated end, read from the
training log that nnU-Net wrote in the CI phantom run (a real log, cut where a running training would be)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hanseg.jobs.run_state import describe, status
from hanseg.nnunet.progress import latest_log, training_progress
from tests.support.workflow_runs import incomplete_marker


def _fold(finished_run: Path) -> Path:
    return next((finished_run / "results/experiments").glob("*/nnunet/results/*/*/fold_all"))


@pytest.mark.slow
def test_a_finished_training_reads_as_all_its_epochs(finished_run):
    progress = training_progress(_fold(finished_run))
    assert progress is not None and progress.total is not None and progress.total >= 2
    assert progress.epochs_done == progress.total and progress.seconds_left == 0
    assert 0.0 <= progress.pseudo_dice <= 1.0 and progress.seconds_per_epoch > 0


@pytest.mark.slow
def test_status_during_a_training_shows_the_epoch_of_total_and_an_estimated_end(finished_run, tmp_path):
    fold = _fold(finished_run)
    log = latest_log(fold)
    lines = log.read_text().splitlines(keepends=True)
    # The log as it stood after its second epoch ended: what a running training's log holds.
    ends = [i for i, line in enumerate(lines) if ": Epoch time: " in line]
    assert len(ends) >= 2
    copy = tmp_path / fold.relative_to(finished_run)
    copy.mkdir(parents=True)
    (copy / log.name).write_text("".join(lines[: ends[1] + 1]))
    total = training_progress(fold).total
    # A resumed training's log starts at the epoch it resumed from (the CI run's training is cut and resumed).
    last_started = [int(line.split(": Epoch ")[1]) for line in lines[: ends[1]] if re.search(r": Epoch \d+\s*$", line)]
    output = str(copy.relative_to(tmp_path) / "checkpoint_final.pth")
    incomplete_marker(tmp_path, output)
    text = describe(status(tmp_path))
    line = next(line for line in text.splitlines() if line.startswith("training "))
    assert f"epoch {last_started[-1] + 1} of {total}" in line, text
    assert "pseudo-Dice " in line and "estimated end " in line, text
    shutil.rmtree(tmp_path / ".snakemake")


def test_a_training_without_a_log_yet_says_so(tmp_path):
    fold = tmp_path / "results/model/fold_0"
    fold.mkdir(parents=True)
    assert training_progress(fold) is None
    incomplete_marker(tmp_path, "results/model/fold_0/checkpoint_final.pth")
    assert "training results/model/fold_0: started, no epoch logged yet" in describe(status(tmp_path))
