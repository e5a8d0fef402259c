"""Running Snakemake on the repository's workflow from the tests, and the shared finished phantom run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake_in(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True)


def run_ci_phantom(workdir: Path) -> Path:
    """The CI phantom (.test/config: four cases, a CPU nnU-Net that learns) through every rule."""
    (workdir / "config").mkdir(parents=True)
    shutil.copy(REPO / ".test/config/config.yaml", workdir / "config/config.yaml")
    result = snakemake_in(workdir, "--cores", "2")
    if result.returncode != 0:
        raise AssertionError(f"the CI phantom run failed:\n{result.stderr[-3000:]}")
    return workdir
