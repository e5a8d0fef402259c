"""A disk that fills up under each writing stage: one line naming the file and the cause, exit 1, no temporary or
partial file; after the disk is freed the rerun runs that job alone and completes.

In a copy of the finished CI run, each stage's output folder becomes a small real file system (tmpfs) that holds only
the stage's inputs found there (if any), filled to the last byte; Snakemake, as a user runs it, must then write the
stage's output. The results lock, the logs and every other folder stay on the ordinary disk, so only the stage's own
writes meet the full disk.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.support.small_disks import fill, hidden_files, mount_problem, small_disk
from tests.support.workflow_runs import snakemake_in

VARIANT = "ct_mr"
EXPERIMENT = f"results/experiments/{VARIANT}"
#: (rule, its output for the test case, the folder that becomes the full file system). The nnU-Net dataset and the
#: extracted data are replaced as whole folders, built beside them: their parent is the file system. Inside the
#: folders, only aggregate's inputs (evaluation/cases) are kept.
STAGES = [
    ("extract_archive", "results/data/manifest.json", "results/data"),
    ("clip_ct", "results/cases/{case}/ct_clipped.nrrd", "results/cases/{case}"),
    ("register_mr", "results/cases/{case}/registration/mr_in_ct.nrrd", "results/cases/{case}/registration"),
    ("resample", "results/cases/{case}/resampled/ct.nrrd", "results/cases/{case}/resampled"),
    ("nnunet_dataset", f"{EXPERIMENT}/nnunet/raw/Dataset501_HaNSeg/dataset.json", f"{EXPERIMENT}/nnunet/raw"),
    ("nnunet_predict", f"{EXPERIMENT}/predictions/{{case}}.nrrd", f"{EXPERIMENT}/predictions"),
    ("segment", f"{EXPERIMENT}/segmentations/{{case}}.nrrd", f"{EXPERIMENT}/segmentations"),
    ("evaluate", f"{EXPERIMENT}/evaluation/cases/{{case}}.tsv", f"{EXPERIMENT}/evaluation/cases"),
    ("aggregate", f"{EXPERIMENT}/evaluation/per_case.tsv", f"{EXPERIMENT}/evaluation"),
    ("results_boxplots", "results/figures/dc_hd95_boxplots.png", "results/figures"),
]
JOB = re.compile(r"^(?:local)?rule (\w+):$", re.MULTILINE)


@pytest.fixture(scope="module")
def run_copy(finished_run, tmp_path_factory) -> tuple[Path, str]:
    problem = mount_problem(tmp_path_factory.mktemp("probe") / "disk")
    if problem:
        pytest.skip(problem)
    workdir = tmp_path_factory.mktemp("disk_faults") / "run"
    shutil.copytree(finished_run, workdir, symlinks=True)
    split = pd.read_csv(workdir / "results/split/split.tsv", sep="\t")
    return workdir, str(split.loc[split.role == "test", "case"].iloc[0])


@pytest.mark.slow
@pytest.mark.parametrize("rule, output, folder", STAGES, ids=[stage[0] for stage in STAGES])
def test_a_full_disk_is_one_line_leaves_nothing_partial_and_the_rerun_completes(
    run_copy, tmp_path, rule, output, folder
):
    workdir, case = run_copy
    (tmp_path / "none").mkdir()
    target, folder = output.format(case=case), workdir / folder.format(case=case)
    inputs = tmp_path / "inputs"
    shutil.copytree(folder / "cases" if rule == "aggregate" else tmp_path / "none", inputs, symlinks=True)
    with small_disk(folder, 64):
        shutil.copytree(inputs, folder / "cases" if rule == "aggregate" else folder, dirs_exist_ok=True)
        fill(folder)
        hidden_before = hidden_files(folder)
        failed = snakemake_in(workdir, target, "--cores", "2")
        assert failed.returncode != 0, failed.stderr[-2000:]
        errors = [line for line in failed.stderr.splitlines() if " ERROR hanseg." in line]
        assert len(errors) == 1, failed.stderr[-4000:]
        # Named by the stage's output (or the folder it replaces whole), never by a temporary.
        named = errors[0].split(" ERROR hanseg.rule.")[1].split(": cannot write it: ")[0].split(": ", 1)[1]
        assert "No space left on device" in errors[0] and named.startswith(str(folder.relative_to(workdir))), errors[0]
        assert ".tmp" not in named and "/." not in named, errors[0]
        assert "Traceback" not in failed.stderr, failed.stderr[-4000:]
        assert hidden_files(folder) == hidden_before  # no temporary, no staging folder
        assert not (workdir / target).exists()  # nothing partial under the real name

        subprocess.run(["mount", "-o", "remount,size=512m", str(folder)], check=True)  # space freed
        rerun = snakemake_in(workdir, target, "--cores", "2")
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert JOB.findall(rerun.stderr) == [rule]  # that job alone: nothing finished is redone
        assert (workdir / target).is_file()
