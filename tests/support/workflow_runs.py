"""Running Snakemake on the repository's workflow from the tests, and the shared finished phantom run."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def incomplete_marker(workdir: Path, output: str, job: str | None = None) -> None:
    """Snakemake's record that a job writing `output` started and has not finished (.snakemake/incomplete)."""
    path = workdir / ".snakemake/incomplete" / base64.urlsafe_b64encode(output.encode()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"external_jobid": job}))


def snakemake_in(workdir: Path, *args: str, snakefile: Path | None = None) -> subprocess.CompletedProcess:
    command = [*SNAKEMAKE[:-1], str(snakefile)] if snakefile else SNAKEMAKE
    return subprocess.run([*command, "--directory", str(workdir), *args], capture_output=True, text=True)


#: A user's own folder that uses this workflow as a Snakemake module, as `snakedeploy deploy-workflow` writes it
#: (pointed at the local clone): the folder holds only this Snakefile and its config/.
DEPLOYED_SNAKEFILE = """\
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


module hanseg:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from hanseg
"""


def deploy(workdir: Path) -> Path:
    """`workdir` as a deployed workflow: a Snakefile that imports this one as a module, and the CI config."""
    (workdir / "config").mkdir(parents=True)
    shutil.copy(REPO / ".test/config/config.yaml", workdir / "config/config.yaml")
    snakefile = workdir / "Snakefile"
    snakefile.write_text(DEPLOYED_SNAKEFILE.format(snakefile=REPO / "workflow/Snakefile"))
    return snakefile


def run_ci_phantom(workdir: Path, profile: Path | None = None) -> Path:
    """The CI phantom (.test/config: four cases, a CPU nnU-Net that learns) through every rule, from a folder that
    deploys the workflow as a module (:func:`deploy`): locally, or submitted through the SLURM `profile` (see
    :func:`slurm_test_profile`). Snakemake's output goes to `workdir`/../snakemake.out (the SLURM tests read the job
    ids from it). Later runs on copies of it use the repository's Snakefile: the same rules either way."""
    snakefile = deploy(workdir)
    if profile is None:
        result = snakemake_in(workdir, "--cores", "2", snakefile=snakefile)
    else:
        result = submit(workdir, profile, snakefile=snakefile)
    (workdir.parent / "snakemake.out").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise AssertionError(f"the CI phantom run failed:\n{result.stderr[-3000:]}")
    return workdir


# ---- a real SLURM cluster (tests/slurm/local_cluster.sh; .ci/run starts one) ------------------------------------
SLURM_PROFILE = REPO / "profiles/slurm/config.yaml"


def slurm_problem() -> str | None:
    """Why no SLURM cluster can take the tests' jobs, or None when one can."""
    if not shutil.which("sbatch") or not shutil.which("sacct"):
        return "no SLURM client commands (tests/slurm/local_cluster.sh install)"
    if not os.environ.get("SLURM_CONF") and not Path("/etc/slurm/slurm.conf").is_file():
        return "no SLURM cluster configured: run tests/slurm/local_cluster.sh start DIR"
    probe = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or "idle" not in probe.stdout and "mix" not in probe.stdout:
        return f"the SLURM cluster does not answer or has no usable node: {probe.stderr.strip() or probe.stdout}"
    return None


def slurm_problem_unless_required() -> str | None:
    """:func:`slurm_problem`, except that where HANSEG_REQUIRE_SLURM is set (.ci/run) a problem fails the test."""
    problem = slurm_problem()
    if problem and os.environ.get("HANSEG_REQUIRE_SLURM"):
        pytest.fail(f"HANSEG_REQUIRE_SLURM is set but {problem}")
    return problem


#: Runtime (minutes) of the training job in the tests' SLURM runs: the first attempt is stopped by its one-minute
#: limit part way (the CI config's training takes several minutes) and resumes from its checkpoint on the retry.
TRAIN_RUNTIME_FIRST_ATTEMPT_CUT = "1 if attempt == 1 else 30"


def slurm_test_profile(folder: Path, train_runtime: str = "30") -> Path:
    """profiles/slurm with what a 2-core CI machine without conda needs changed, and nothing else, in `folder`."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    # No conda channels here: jobs run in the Python environment of the submitting Snakemake (the test venv).
    del profile["software-deployment-method"]
    profile["max-threads"] = 2
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["latency-wait"] = 5
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = "1500 * attempt"
    profile["set-resources"]["nnunet_train"]["runtime"] = train_runtime
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def submit(
    workdir: Path, profile: Path, *args: str, timeout: int = 1800, snakefile: Path | None = None
) -> subprocess.CompletedProcess:
    """Snakemake in `workdir` with the SLURM `profile`: every non-local job is a SLURM job."""
    command = [*SNAKEMAKE[:-1], str(snakefile)] if snakefile else SNAKEMAKE
    return subprocess.run(
        [*command, "--directory", str(workdir), "--profile", str(profile), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=timeout,
    )


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
