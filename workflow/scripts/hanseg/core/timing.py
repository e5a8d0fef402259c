"""Seconds per phase of a long step (registration, prediction, `hanseg segment`), each logged as one line when the
phase completes, so a log shows where a slow job spends its time."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    """``with watch("prediction"): ...`` records the phase's seconds and logs ``<what>: prediction 12.3 s``."""

    def __init__(self, log: logging.Logger | None = None, what: str = ""):
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.log = log
        self.what = what

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        tick = time.perf_counter()
        yield
        self.seconds[phase] = time.perf_counter() - tick
        if self.log is not None:
            prefix = f"{self.what}: " if self.what else ""
            self.log.info("%s%s %.1f s", prefix, phase, self.seconds[phase])

    def total(self) -> float:
        return time.perf_counter() - self.started

    def rounded(self) -> dict[str, float]:
        """Every phase's seconds and the total so far, to 0.01 s."""
        seconds = {**self.seconds, "total": self.total()}
        return {phase: round(value, 2) for phase, value in seconds.items()}
