from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hanseg.dataset.phantom import generate
from tests.support.phantom_cases import SMALL


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory) -> Path:
    """A read-only-by-convention phantom shared by the tests: copy it (`phantom_copy`) before changing it."""
    out = tmp_path_factory.mktemp("phantom")
    generate(out, SMALL)
    return out


@pytest.fixture
def phantom_copy(phantom_root, tmp_path) -> Path:
    """A private copy of the phantom's HaN-Seg folder for tests that break it on purpose."""
    target = tmp_path / "HaN-Seg"
    shutil.copytree(phantom_root / "HaN-Seg", target)
    return target


@pytest.fixture(autouse=True)
def _restore_environment():
    """nnU-Net is configured through environment variables; no test may leak them into the next one."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """The CI phantom run through every rule once per session (minutes: it trains a small nnU-Net).

    Where a SLURM cluster answers (CI starts one), the run is submitted through profiles/slurm
    (tests/workflow/test_slurm.py checks its jobs) and its training's first attempt gets a one-minute time limit, so
    it resumes on the retry: the tests of the results then also check a run that SLURM cut and resumed. Elsewhere it
    runs locally; with HANSEG_REQUIRE_SLURM set, a missing cluster is a failure. One run serves both: CI time.

    Read-only by convention: tests that change a finished run work on a copy (shutil.copytree keeps file times and
    Snakemake's records, so the copy has nothing to redo).
    """
    from tests.support.workflow_runs import (
        TRAIN_RUNTIME_FIRST_ATTEMPT_CUT,
        run_ci_phantom,
        slurm_problem_unless_required,
        slurm_test_profile,
    )

    base = tmp_path_factory.mktemp("run")
    problem = slurm_problem_unless_required()
    profile = None if problem else slurm_test_profile(base / "profile", TRAIN_RUNTIME_FIRST_ATTEMPT_CUT)
    return run_ci_phantom(base / "run", profile)


@pytest.fixture(scope="session")
def run_with_a_second_experiment(finished_run, tmp_path_factory) -> dict:
    """The finished run (a copy) with a CT-only experiment added and compared with ct_mr: {"workdir", "log"}.

    The new experiment trains briefly (its budget lowered in the config); `--rerun-triggers mtime` keeps the finished
    ct_mr model, which that budget change would otherwise retrain. Shared by the experiment and segment tests.
    """
    from tests.support.workflow_runs import add_ct_only_experiment

    return add_ct_only_experiment(finished_run, tmp_path_factory.mktemp("second") / "run")


@pytest.fixture(scope="session")
def run_with_dropout_experiments(finished_run, tmp_path_factory) -> dict:
    """The finished run (a copy) under two-fold cross-validation with a modality-dropout model scored with CT + MR and
    with CT alone, and its post-processing decision: {"workdir", "log"} (tests/support/workflow_runs.py)."""
    from tests.support.workflow_runs import add_dropout_experiments

    return add_dropout_experiments(finished_run, tmp_path_factory.mktemp("dropout") / "run")
