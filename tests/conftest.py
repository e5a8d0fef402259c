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


#: The shared runs, in the order they are done (each later one starts from a copy of the first).
SHARED_RUNS = ("finished_run", "run_with_a_second_experiment", "run_with_dropout_experiments")


def pytest_collection_modifyitems(items):
    """The tests that need no shared run first, then those that need the first, the second, the third (in their order
    otherwise): the runs go on in the background, in that order, while the tests before them run
    (tests/support/background.py)."""
    items.sort(key=_last_shared_run_needed)


def _last_shared_run_needed(item) -> int:
    return max((k + 1 for k, name in enumerate(SHARED_RUNS) if name in item.fixturenames), default=0)


@pytest.fixture(scope="session", autouse=True)
def shared_runs(request, tmp_path_factory):
    """Starts, as the session starts, the shared runs that the selected tests need; stops them at its end."""
    from tests.support import workflow_runs
    from tests.support.background import BackgroundRuns

    runs = BackgroundRuns()
    wanted = {name for item in request.session.items for name in SHARED_RUNS if name in item.fixturenames}
    if wanted:  # every shared run starts from the finished run
        base = tmp_path_factory.mktemp("run")
        problem = workflow_runs.slurm_problem()
        if problem and runs.environment.get("HANSEG_REQUIRE_SLURM"):
            runs.start("finished_run", pytest.fail, f"HANSEG_REQUIRE_SLURM is set but {problem}")
        else:
            profile = None
            if not problem:
                profile = workflow_runs.slurm_test_profile(
                    base / "profile", workflow_runs.TRAIN_RUNTIME_FIRST_ATTEMPT_CUT
                )
            runs.start("finished_run", workflow_runs.run_ci_phantom, base / "run", profile, env=runs.environment)
    for name, add, folder in (
        ("run_with_a_second_experiment", workflow_runs.add_ct_only_experiment, "second"),
        ("run_with_dropout_experiments", workflow_runs.add_dropout_experiments, "dropout"),
    ):
        if name in wanted:
            workdir = tmp_path_factory.mktemp(folder) / "run"
            runs.start(name, _on_a_copy_of_the_finished_run, runs, add, workdir)
    if wanted:
        runs.yield_the_cpu_to_them()
    yield runs
    runs.stop()


def _on_a_copy_of_the_finished_run(runs, add, workdir: Path) -> dict:
    return add(runs.result("finished_run"), workdir, runs.environment)


@pytest.fixture(scope="session")
def finished_run(shared_runs) -> Path:
    """The CI phantom run through every rule once per session (minutes: it trains a small nnU-Net), started in the
    background as the session starts (`shared_runs`).

    Where a SLURM cluster answers (CI starts one), the run is submitted through profiles/slurm
    (tests/workflow/test_slurm.py checks its jobs) and its training's first attempt gets a short time limit, so it
    resumes on the retry: the tests of the results then also check a run that SLURM cut and resumed. Elsewhere it
    runs locally; with HANSEG_REQUIRE_SLURM set, a missing cluster is a failure. One run serves both: CI time.

    Read-only by convention: tests that change a finished run work on a copy (shutil.copytree keeps file times and
    Snakemake's records, so the copy has nothing to redo).
    """
    return shared_runs.result("finished_run")


@pytest.fixture(scope="session")
def run_with_a_second_experiment(shared_runs) -> dict:
    """The finished run (a copy) with a CT-only experiment added and compared with ct_mr: {"workdir", "log"}.

    The new experiment trains briefly (its budget lowered in the config); `--rerun-triggers mtime` keeps the finished
    ct_mr model, which that budget change would otherwise retrain. Shared by the experiment and segment tests.
    """
    return shared_runs.result("run_with_a_second_experiment")


@pytest.fixture(scope="session")
def run_with_dropout_experiments(shared_runs) -> dict:
    """The finished run (a copy) under two-fold cross-validation with a modality-dropout model scored with CT + MR and
    with CT alone, and its post-processing decision: {"workdir", "log"} (tests/support/workflow_runs.py)."""
    return shared_runs.result("run_with_dropout_experiments")
