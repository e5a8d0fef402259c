"""The session's long shared runs, started when the session starts and run one after another in a worker thread,
so that they go on while the tests that do not need them run.

pytest runs one test at a time. The shared CI phantom run takes minutes, much of them spent waiting (on SLURM's
status polls, on a single elastix or nnU-Net process), and the tests that need no run take about as long: run side by
side on CI's two cores they finish together sooner, the runs ahead (the tests that need them wait for them).
tests/conftest.py starts the runs that the selected tests need and puts those tests last; each run's fixture waits
for its own result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tests.support.workflow_runs import stop_running

#: How far the tests in the foreground step back: a nice-0 process gets about nine tenths of a core it shares with
#: one at 10 (the kernel's weights 1024 and 110), so the runs go nearly as fast as alone and the tests take the rest.
FOREGROUND_NICENESS = 10


class BackgroundRuns:
    """Named runs done in order, one at a time, in one worker thread."""

    def __init__(self) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shared-runs")
        self._runs: dict[str, Future] = {}
        #: The environment the session started with, for the runs' commands: the tests in the foreground change
        #: os.environ (nnU-Net's roots) and restore it after each test.
        self.environment = dict(os.environ)

    def start(self, name: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue `function(*args, **kwargs)` behind the runs started before it; a later run may ask for an earlier
        one's result."""
        if name in self._runs:
            raise ValueError(f"run {name!r} started twice")
        self._runs[name] = self._worker.submit(function, *args, **kwargs)

    def yield_the_cpu_to_them(self, niceness: int = FOREGROUND_NICENESS) -> None:
        """Lower the CPU priority of the calling thread, the one that runs the tests, and so of every command a test
        starts: the runs are the session's critical path. On Linux a thread's nice value is its own (nice(2)), so
        the worker thread, already started, keeps its priority for the runs' commands, and SLURM's jobs keep
        slurmd's. Elsewhere it lowers them all alike, which changes nothing."""
        if not self._runs:
            raise RuntimeError("no run started: the worker thread that keeps its priority does not exist yet")
        os.nice(niceness)

    def result(self, name: str) -> Any:
        """The run's result once it has finished; its exception (a failed run, pytest.fail) is raised here."""
        if name not in self._runs:
            raise LookupError(f"run {name!r} was not started: no selected test asked for it at collection")
        return self._runs[name].result()

    def stop(self) -> None:
        """At the session's end: drop the runs not begun, stop the one running (a session cut short), wait."""
        for run in self._runs.values():
            run.cancel()
        stop_running()
        self._worker.shutdown(wait=True)
