"""A new user's first mistakes end with at most three lines naming what to fix, exit status 1 and no traceback: a
typo'd config key, a data path that does not exist, and the SLURM profile on a machine without conda."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hanseg.core.config_check import config_problems
from tests.support import REPO


def _config() -> dict:
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_the_shipped_configs_have_no_problems():
    for path in [*REPO.glob("config/*.yaml"), REPO / ".test/config/config.yaml"]:
        config = _config()
        config.update(yaml.safe_load(path.read_text()))
        assert config_problems(config) == [], path


def test_an_unknown_key_is_named_with_where_it_is_and_the_closest_valid_key():
    config = _config()
    config["nnunet"]["epoch"] = 3
    config["dataset"]["phantom"] = {"sed": 1}
    config["evalution"] = {}
    assert config_problems(config) == [
        "dataset.phantom.sed: unknown key (did you mean dataset.phantom.seed?)",
        "evalution: unknown key (did you mean evaluation?)",
        "nnunet.epoch: unknown key (did you mean nnunet.epochs?)",
    ]


def test_a_key_with_no_close_match_lists_the_known_keys_and_a_wrong_type_is_one_line():
    config = _config()
    config["split"]["zzz"] = 1
    config["nnunet"]["epochs"] = "many"
    problems = config_problems(config)
    assert problems[0] == "nnunet.epochs: 'many' is not of type 'integer'"
    assert problems[1].startswith("split.zzz: unknown key (known: method, ") and len(problems) == 2


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return subprocess.run([*command, "-n", *args], capture_output=True, text=True, cwd=REPO)


def _assert_short_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Using profile")]
    assert result.returncode == 1, result.stderr[-2000:]
    assert 1 <= len(lines) <= 3, result.stderr
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_a_typo_in_a_config_key_gives_one_line(tmp_path):
    (tmp_path / "mine.yaml").write_text("nnunet:\n  epoch: 3\n")
    result = _snakemake(tmp_path, "--configfile", str(REPO / "config/config.yaml"), str(tmp_path / "mine.yaml"))
    _assert_short_error(result, "nnunet.epoch: unknown key (did you mean nnunet.epochs?)", "mine.yaml")


def test_a_missing_data_path_gives_one_line(tmp_path):
    missing = tmp_path / "no/HaN-Seg"
    (tmp_path / "mine.yaml").write_text(f"dataset:\n  source: local\n  local_path: {missing}\n")
    result = _snakemake(tmp_path, "--configfile", str(REPO / "config/config.yaml"), str(tmp_path / "mine.yaml"))
    _assert_short_error(result, f"dataset.local_path: {missing} does not exist")


def test_the_slurm_profile_without_conda_says_what_to_do():
    if shutil.which("conda") or shutil.which("mamba"):
        pytest.skip("conda is installed here: the users this check is for have none")
    result = _snakemake(REPO, "--profile", str(REPO / "profiles/slurm"))
    _assert_short_error(result, "conda was not found", "--sdm env-modules")
