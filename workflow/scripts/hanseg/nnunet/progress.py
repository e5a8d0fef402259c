"""How far a training is, from nnU-Net's own training log (``training_log_*.txt`` in the fold's folder).

nnU-Net writes one line per event with a timestamp: ``Epoch N`` when an epoch starts, ``Pseudo dice [...]`` (one
value per organ, on the validation patches) and ``Epoch time: T s`` when it ends; the project's trainer adds its
budget (:data:`BUDGET_LINE`). From these: the epoch, the total, the last mean pseudo-Dice, and an estimated end from
the recent epoch times. Standard library only (``hanseg status`` runs anywhere).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

#: How the trainer states its budget in the log (hanseg.nnunet.trainer writes it; this module imports no torch).
BUDGET_LINE = "HanSegTrainer budget:"
#: Recent epochs whose mean time estimates the end.
RECENT_EPOCHS = 10

_EPOCH = re.compile(r": Epoch (\d+)\s*$")
_EPOCH_TIME = re.compile(r": Epoch time: ([0-9.]+) s")
_PSEUDO_DICE = re.compile(r": Pseudo dice \[(.*)\]")
_BUDGET = re.compile(re.escape(BUDGET_LINE) + r" (\d+) epochs")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class TrainingProgress:
    log: Path
    epochs_done: int
    total: int | None
    pseudo_dice: float | None
    seconds_per_epoch: float | None
    updated: float  # the log's modification time (seconds since the epoch)

    @property
    def seconds_left(self) -> float | None:
        if self.total is None or self.seconds_per_epoch is None:
            return None
        return max(self.total - self.epochs_done, 0) * self.seconds_per_epoch

    def describe(self) -> str:
        """One line, e.g. ``epoch 12 of 100, pseudo-Dice 0.41, 3.2 s per epoch, estimated end 20:31 (in 4 min)``."""
        total = f" of {self.total}" if self.total is not None else ""
        parts = [f"epoch {self.epochs_done}{total}"]
        if self.pseudo_dice is not None:
            parts.append(f"pseudo-Dice {self.pseudo_dice:.3f}")
        if self.seconds_per_epoch is not None:
            parts.append(f"{self.seconds_per_epoch:.1f} s per epoch")
        left = self.seconds_left
        if left is not None:
            end = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.updated + left))
            parts.append(f"estimated end {end} (in {_duration(left)} from the log's last line)")
        return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _mean_dice(text: str) -> float | None:
    values = [float(v) for v in _NUMBER.findall(re.sub(r"np\.float\d+\(", "(", text))]
    return sum(values) / len(values) if values else None


def training_logs(fold_dir: Path | str) -> list[Path]:
    """The fold's nnU-Net training logs, oldest first (a resumed training starts a new one)."""
    return sorted(Path(fold_dir).glob("training_log_*.txt"), key=lambda p: p.stat().st_mtime)


def latest_log(fold_dir: Path | str) -> Path | None:
    """The fold's newest nnU-Net training log."""
    logs = training_logs(fold_dir)
    return logs[-1] if logs else None


def training_progress(fold_dir: Path | str) -> TrainingProgress | None:
    """The training's progress from its newest log; None before nnU-Net has written one."""
    log = latest_log(fold_dir)
    return None if log is None else log_progress(log)


def epochs_logged(fold_dir: Path | str) -> int | None:
    """The epochs finished, from the newest log that finished one; None when no log did (a run that died before its
    first epoch ended leaves a log without one)."""
    for log in reversed(training_logs(fold_dir)):
        if (done := log_progress(log).epochs_done) > 0:
            return done
    return None


def log_progress(log: Path) -> TrainingProgress:
    """The progress one training log records."""
    started, ended, total, dice, times = None, -1, None, None, []
    for line in log.read_text(errors="replace").splitlines():
        if match := _BUDGET.search(line):
            total = int(match.group(1))
        elif match := _EPOCH.search(line):
            started = int(match.group(1))
        elif match := _EPOCH_TIME.search(line):
            ended = started if started is not None else ended
            times.append(float(match.group(1)))
        elif match := _PSEUDO_DICE.search(line):
            dice = _mean_dice(match.group(1))
    recent = times[-RECENT_EPOCHS:]
    return TrainingProgress(
        log=log,
        epochs_done=ended + 1,
        total=total,
        pseudo_dice=dice,
        seconds_per_epoch=sum(recent) / len(recent) if recent else None,
        updated=log.stat().st_mtime,
    )
