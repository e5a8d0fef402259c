"""The workflow on a real SLURM cluster, submitted through `profiles/slurm` (with test overrides, below).

`tests/slurm/local_cluster.sh start DIR` brings up a single-node SLURM 22.05 with accounting and a fake GPU; `.ci/run`
does that before the tests and stops it after. Without a reachable cluster these tests skip, saying why.

The pipeline run checked here is the session's shared CI phantom run (tests/conftest.py, `finished_run`): where a
cluster answers, it is submitted through the profile, its training's first attempt with a two-minute time limit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.support.workflow_runs import REPO, SLURM_PROFILE, slurm_problem_unless_required, slurm_test_profile, submit

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def cluster():
    problem = slurm_problem_unless_required()
    if problem:
        pytest.skip(problem)


def test_profile_settings_the_workflow_relies_on():
    """The shipped profile itself (the tests below submit through it with a few overrides)."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm" and profile["software-deployment-method"] == "conda"
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] is True and profile["latency-wait"] >= 30
    for rule in ("nnunet_train", "nnunet_predict"):
        assert profile["set-resources"][rule]["gpu"] == 1
    assert eval(str(profile["set-resources"]["nnunet_train"]["mem_mb"]), {"attempt": 2}) == 64000


def test_profile_with_test_overrides(tmp_path):
    profile = yaml.safe_load((slurm_test_profile(tmp_path / "profile") / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and "software-deployment-method" not in profile
    assert profile["set-resources"]["nnunet_train"]["gpu"] == 1  # the fake GPU is what lets it schedule


def _workdir(tmp_path: Path) -> Path:
    workdir = tmp_path / "run"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config/config.yaml").write_text((REPO / ".test/config/config.yaml").read_text())
    return workdir


def _jobs_of(result: subprocess.CompletedProcess) -> pd.DataFrame:
    """This run's SLURM jobs from the accounting database: rule (the plugin's job comment), state, resources."""
    ids = sorted(set(_submitted_job_ids(result.stdout + result.stderr)))
    assert ids, "no SLURM job ids in Snakemake's output"
    listing = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-j", ",".join(ids), "--format=JobID,Comment,State,AllocTRES,Timelimit"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in listing.splitlines() if line]
    return pd.DataFrame(rows, columns=["job", "comment", "state", "tres", "timelimit"])


def _submitted_job_ids(text: str) -> list[str]:
    # "Job 12 has been submitted with SLURM jobid 34 (log: ...)."
    words = text.split()
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word == "jobid" and words[i + 1].isdigit()]


@pytest.fixture(scope="module")
def demo_on_slurm(cluster, finished_run):
    """The CI phantom run, submitted through the profile (conftest): its folder and Snakemake's output."""
    output = (finished_run.parent / "snakemake.out").read_text()
    return finished_run, subprocess.CompletedProcess([], 0, output, "")


def test_phantom_pipeline_completes_on_slurm(demo_on_slurm):
    workdir, result = demo_on_slurm
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    results = workdir / "results"
    split = pd.read_csv(results / "split/split.tsv", sep="\t")
    test_cases = sorted(split.loc[split.role == "test", "case"])
    experiment = results / "experiments/ct_mr"
    assert sorted(p.stem for p in (experiment / "predictions").glob("*.nrrd")) == test_cases
    assert "±" in (experiment / "evaluation/table2.md").read_text()
    jobs = _jobs_of(result)
    rules = {comment.split("_wildcards_")[0].removeprefix("rule_") for comment in jobs["comment"]}
    # Heavy rules went to SLURM; local rules did not.
    assert {"register_mr", "resample", "nnunet_plan_preprocess", "nnunet_train", "nnunet_predict"} <= rules
    assert not {"download_archive", "inventory", "split", "aggregate"} & rules
    gpu_jobs = jobs[jobs["comment"].str.startswith(("rule_nnunet_train", "rule_nnunet_predict"))]
    assert len(gpu_jobs) and gpu_jobs["tres"].str.contains("gres/gpu=1").all()
    assert (jobs.loc[~jobs["comment"].str.startswith("rule_nnunet_train"), "state"] == "COMPLETED").all()
    # Nothing left to do: the profile's rerun settings do not redo finished work.
    again = submit(workdir, slurm_test_profile(workdir.parent / "again"), "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_training_past_its_time_limit_is_resubmitted_and_resumes(demo_on_slurm):
    workdir, result = demo_on_slurm
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    jobs = _jobs_of(result)
    training = jobs[jobs["comment"].str.startswith("rule_nnunet_train")]
    assert list(training["state"]) == ["TIMEOUT", "COMPLETED"], training
    assert list(training["timelimit"]) == ["00:02:00", "00:30:00"]  # runtime and memory grow with the attempt
    assert [tres.split("mem=")[1].split(",")[0] for tres in training["tres"]] == ["1500M", "3000M"]
    model = next((workdir / "results/experiments/ct_mr/nnunet/results").rglob("fold_all"))
    record = json.loads((model / "hanseg_training.json").read_text())
    epochs = yaml.safe_load((workdir / "config/config.yaml").read_text())["nnunet"]["epochs"]
    assert 0 < record["resumed_from_epoch"] < epochs, record
    log = workdir / f"results/logs/nnunet_train/ct_mr/{model.parent.name}/fold_all.log"
    assert "resuming fold all" in log.read_text()
    assert (model / "checkpoint_final.pth").is_file()


def test_failing_job_is_reported_failed_and_its_logs_kept(cluster, tmp_path):
    workdir = _workdir(tmp_path)
    profile = slurm_test_profile(tmp_path / "profile")
    prepared = submit(workdir, profile, "results/data/manifest.json")
    assert prepared.returncode == 0, (prepared.stdout + prepared.stderr)[-4000:]
    ct = workdir / "results/data/HaN-Seg/set_1/case_02/case_02_IMG_CT.nrrd"
    ct.write_bytes(ct.read_bytes()[:300])  # a truncated download
    result = submit(workdir, profile, "--retries", "0", "--keep-going", "results/inventory/cases.tsv")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Error in rule inventory_case" in out and "case_02" in out
    jobs = _jobs_of(result)
    states = dict(zip(jobs["comment"], jobs["state"], strict=True))
    assert states["rule_inventory_case_wildcards_case_02"] == "FAILED"
    assert states["rule_inventory_case_wildcards_case_01"] == "COMPLETED"
    # The rule's own log names the case and the file; SLURM's log of the failed job is kept, the others removed.
    log = (workdir / "results/logs/inventory_case/case_02.log").read_text()
    assert "case_02_IMG_CT.nrrd: cannot read the image" in log
    slurm_logs = workdir / ".snakemake/slurm_logs/rule_inventory_case"
    assert list((slurm_logs / "case_02").glob("*.log"))
    assert not list((slurm_logs / "case_01").glob("*.log"))
    assert (workdir / "results/inventory/cases/case_01.json").is_file()  # healthy work is kept
