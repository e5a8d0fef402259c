"""Running Snakemake on the repository's workflow from the tests, and the shared finished phantom run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake_in(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True)


def quick_elastix_files(workdir: Path, iterations: int) -> list[str]:
    """Copies of the packaged rigid and B-spline parameter files in `workdir`/elastix with `iterations` per
    resolution, as `registration.parameter_files` names them: for tests whose point is not the optimisation.

    A file already there with the same text is left alone: a newer parameter file would redo every registration.
    """
    from hanseg.defaults import DATA_DIR

    (workdir / "elastix").mkdir(parents=True, exist_ok=True)
    names = []
    for name in ("rigid", "bspline"):
        text = (DATA_DIR / f"elastix/{name}.txt").read_text()
        text = re.sub(r"\(MaximumNumberOfIterations \d+\)", f"(MaximumNumberOfIterations {iterations})", text)
        path = workdir / f"elastix/{name}.txt"
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        names.append(f"elastix/{name}.txt")
    return names


def run_ci_phantom(workdir: Path) -> Path:
    """The CI phantom (.test/config: four cases, a CPU nnU-Net that learns) through every rule."""
    (workdir / "config").mkdir(parents=True)
    shutil.copy(REPO / ".test/config/config.yaml", workdir / "config/config.yaml")
    result = snakemake_in(workdir, "--cores", "2")
    if result.returncode != 0:
        raise AssertionError(f"the CI phantom run failed:\n{result.stderr[-3000:]}")
    return workdir


#: The comparison that adding the CT-only experiment asks for.
COMPARISON = "results/experiments/comparison_ct_vs_ct_mr.md"


def add_ct_only_experiment(finished_run: Path, workdir: Path) -> dict:
    """A copy of the finished run with a `ct` experiment (2 x 2 training iterations) added and compared with ct_mr."""
    shutil.copytree(finished_run, workdir, symlinks=True)  # file times and Snakemake's records kept
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["experiments"]["ct"] = {"channels": ["CT"], "description": "CT only"}
    config["nnunet"].update({"epochs": 2, "iterations_per_epoch": 2})
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # The target first: --rerun-triggers takes several values and would swallow a target after it.
    result = snakemake_in(workdir, COMPARISON, "--cores", "2", "--rerun-triggers", "mtime")
    if result.returncode != 0:
        raise AssertionError(f"adding the CT-only experiment failed:\n{result.stderr[-3000:]}")
    return {"workdir": workdir, "log": result.stdout + result.stderr}
