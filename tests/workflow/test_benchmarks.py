"""Every benchmark starts as the docs say to run it (`python bench/<name>.py`, from the repository): its imports
follow the package's layout, so a move in the package that breaks a benchmark fails here, not on the day it is run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO

BENCHMARKS = sorted((REPO / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.stem for path in BENCHMARKS])
def test_the_benchmark_starts(script):
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
