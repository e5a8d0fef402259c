"""Running Snakemake on the repository's workflow from the tests, and the shared finished phantom run."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
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


#: The commands running now (:func:`run_command`): what :func:`stop_running` stops when a session ends early.
_RUNNING: set[subprocess.Popen] = set()


def run_command(
    command: list[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """subprocess.run(command, capture_output=True, text=True), the process known to :func:`stop_running` meanwhile.

    `env`: the environment it gets (default: this process's now). Runs in the background pass the one the session
    started with: a test in the foreground may be changing os.environ (nnU-Net's roots) at that moment."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    ) as process:
        _RUNNING.add(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:  # a timeout, or the session interrupted: leave no process behind
            process.kill()
            process.wait()
            raise
        finally:
            _RUNNING.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def stop_running(grace_s: float = 60) -> None:
    """Stop every command still running (SIGTERM: Snakemake cancels its SLURM jobs), killing any that outlive
    `grace_s`."""
    processes = list(_RUNNING)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()


def snakemake_in(
    workdir: Path, *args: str, snakefile: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    command = [*SNAKEMAKE[:-1], str(snakefile)] if snakefile else SNAKEMAKE
    return run_command([*command, "--directory", str(workdir), *args], env=env)


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


#: One thread per job, two jobs at a time on CI's two cores: the tests' runs go on beside other tests, where a job's
#: threads would wait for each other (slurm_test_profile), and their tiny trainings and predictions start up more
#: than they compute.
ONE_THREAD_EACH = (
    "--set-threads",
    *(f"{rule}=1" for rule in ("register_mr", "nnunet_plan_preprocess", "nnunet_train", "nnunet_predict", "segment")),
)


def run_ci_phantom(workdir: Path, profile: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The CI phantom (.test/config: four cases, a CPU nnU-Net that learns) through every rule, from a folder that
    deploys the workflow as a module (:func:`deploy`): locally, or submitted through the SLURM `profile` (see
    :func:`slurm_test_profile`). Snakemake's output goes to `workdir`/../snakemake.out (the SLURM tests read the job
    ids from it). Later runs on copies of it use the repository's Snakefile: the same rules either way."""
    snakefile = deploy(workdir)
    if profile is None:  # one thread per job, as on SLURM (slurm_test_profile)
        result = snakemake_in(workdir, "--cores", "2", *ONE_THREAD_EACH, snakefile=snakefile, env=env)
    else:
        result = submit(workdir, profile, snakefile=snakefile, env=env)
    (workdir.parent / "snakemake.out").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise AssertionError(f"the CI phantom run failed:\n{result.stderr[-3000:]}")
    return workdir


# ---- a real SLURM cluster (tests/slurm/local_cluster.sh; .ci/run starts one) ------------------------------------
SLURM_PROFILE = REPO / "profiles/slurm/config.yaml"


#: sinfo's short node states (%t) of a node that takes jobs.
USABLE_NODE_STATES = {"idle", "mix", "alloc", "comp"}


def slurm_problem() -> str | None:
    """Why no SLURM cluster can take the tests' jobs, or None when one can."""
    if not shutil.which("sbatch") or not shutil.which("sacct"):
        return "no SLURM client commands (tests/slurm/local_cluster.sh install)"
    if not os.environ.get("SLURM_CONF") and not Path("/etc/slurm/slurm.conf").is_file():
        return "no SLURM cluster configured: run tests/slurm/local_cluster.sh start DIR"
    probe = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    # A node that takes jobs: free, partly or fully busy (the shared run may hold it), or finishing one. A suffix
    # ("idle*": not responding, "~": powered down, ...) makes it another word, so such a node does not count.
    if probe.returncode != 0 or not set(probe.stdout.split()) & USABLE_NODE_STATES:
        return f"the SLURM cluster does not answer or has no usable node: {probe.stderr.strip() or probe.stdout}"
    return None


def slurm_problem_unless_required() -> str | None:
    """:func:`slurm_problem`, except that where HANSEG_REQUIRE_SLURM is set (.ci/run) a problem fails the test."""
    problem = slurm_problem()
    if problem and os.environ.get("HANSEG_REQUIRE_SLURM"):
        pytest.fail(f"HANSEG_REQUIRE_SLURM is set but {problem}")
    return problem


#: Runtime (minutes) of the training job in the tests' SLURM runs: the first attempt is stopped by its two-minute
#: limit part way (the CI config's training takes over three minutes alone on 2 cores: 16 epochs of 10-12 s after
#: 10 s of start-up) and resumes from its checkpoint on the retry. Two minutes, not one: the run goes on beside
#: other tests (tests/conftest.py), and the first attempt must finish an epoch (a checkpoint) before its limit.
TRAIN_RUNTIME_FIRST_ATTEMPT_CUT = "2 if attempt == 1 else 30"


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
    # One thread per job, two jobs at a time on the 2-core node. The shared run goes on beside other tests
    # (tests/conftest.py), and a job's two threads on cores that other tests also use wait for each other at every
    # parallel step (a training epoch took 44 s instead of 11 s); a second elastix thread gains little on the CI
    # phantom's small images anyway (a registration job: 16 s of CPU in 24-30 s).
    profile["set-threads"] = dict.fromkeys(profile["set-threads"], 1)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def submit(
    workdir: Path,
    profile: Path,
    *args: str,
    timeout: int = 1800,
    snakefile: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Snakemake in `workdir` with the SLURM `profile`: every non-local job is a SLURM job."""
    command = [*SNAKEMAKE[:-1], str(snakefile)] if snakefile else SNAKEMAKE
    return run_command(
        [*command, "--directory", str(workdir), "--profile", str(profile), *args], env=env, timeout=timeout, cwd=workdir
    )


#: The comparison that adding the CT-only experiment asks for.
COMPARISON = "results/experiments/comparison_ct_vs_ct_mr.md"


#: nnU-Net's residual-encoder preset M, sized like the CI's network (the CI config's plans_overrides).
RESENC_M_CPU = {
    "channels": ["CT"],
    "plans": "nnUNetResEncUNetMPlans",
    "plans_overrides": {
        "name": "nnUNetResEncUNetMPlans_cpu",
        "features_per_stage": [8, 16, 32, 64],
        "patch_size": [40, 48, 40],
        "batch_size": 2,
    },
    "description": "ResEnc M, CPU-sized",
}


def add_ct_only_experiment(finished_run: Path, workdir: Path, env: Mapping[str, str] | None = None) -> dict:
    """A copy of the finished run with a `ct` experiment and a residual-encoder one on the same CT channel (`resenc`:
    it shares ct's nnU-Net dataset), each 2 x 2 training iterations, both compared with ct_mr."""
    shutil.copytree(finished_run, workdir, symlinks=True)  # file times and Snakemake's records kept
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["experiments"]["ct"] = {"channels": ["CT"], "description": "CT only"}
    config["experiments"]["resenc"] = RESENC_M_CPU
    config["nnunet"].update({"epochs": 2, "iterations_per_epoch": 2})
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # The targets first: --rerun-triggers takes several values and would swallow a target after it.
    targets = [COMPARISON, "results/experiments/comparison_resenc_vs_ct_mr.md"]
    result = snakemake_in(workdir, *targets, "--cores", "2", "--rerun-triggers", "mtime", *ONE_THREAD_EACH, env=env)
    if result.returncode != 0:
        raise AssertionError(f"adding the CT-only experiments failed:\n{result.stderr[-3000:]}")
    return {"workdir": workdir, "log": result.stdout + result.stderr}


#: The cross-validated experiments' Table 2s: the dropout model given CT + MR, the same model given CT alone, and
#: given CT + MR without the post-processing.
DROPOUT_TABLES = [
    f"results/experiments/{name}/evaluation/table2.md" for name in ("dropout", "dropout_ct", "dropout_no_pp")
]


def add_dropout_experiments(finished_run: Path, workdir: Path, env: Mapping[str, str] | None = None) -> dict:
    """A copy of the finished run under two-fold cross-validation with a modality-dropout model (CT + MR, MR dropped
    in half the samples; 2 x 2 training iterations per fold), scored with CT + MR (`dropout`) and with CT alone
    (`dropout_ct`), and with CT + MR without post-processing (`dropout_no_pp`); its post-processing decision made from
    both folds' predictions. Only these are asked for: the
    finished ct_mr model is not retrained (its dataset and preprocessing are redone for the new split)."""
    shutil.copytree(finished_run, workdir, symlinks=True)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["split"] = {"method": "cv", "folds": 2}
    config["experiments"]["dropout"] = {
        "channels": ["CT", "MR"],
        "modality_dropout": {"MR": 0.5},
        "description": "CT + MR with MR dropout",
    }
    config["experiments"]["dropout_ct"] = {"model": "dropout", "inputs": ["CT"], "description": "dropout, CT alone"}
    config["experiments"]["dropout_no_pp"] = {"model": "dropout", "postprocessing": False}
    config["nnunet"].update({"epochs": 2, "iterations_per_epoch": 2})
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # The split is redone (mtime triggers alone would keep the holdout one); the ct_mr model, not asked for, is kept.
    result = snakemake_in(
        workdir,
        *DROPOUT_TABLES,
        "--cores",
        "2",
        "--rerun-triggers",
        "mtime",
        *ONE_THREAD_EACH,
        "--forcerun",
        "split",
        env=env,
    )
    if result.returncode != 0:
        raise AssertionError(f"the dropout experiments failed:\n{result.stderr[-3000:]}")
    return {"workdir": workdir, "log": result.stdout + result.stderr}
