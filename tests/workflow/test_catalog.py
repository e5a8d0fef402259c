"""The Snakemake workflow catalog's standardized usage: config/README.md, .snakemake-workflow-catalog.yml and the
workflow/Snakefile entry point the catalog reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import yaml

from hanseg.core import defaults
from tests.support import REPO


def test_catalog_settings():
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert settings["software-stack-deployment"] == {"conda": True}
    assert settings["report"] is True  # `snakemake --report` gathers the tables and figures
    assert isinstance(settings["mandatory-flags"]["flags"], str)


def test_config_readme_names_real_files_and_keys():
    text = (REPO / "config/README.md").read_text(encoding="utf-8")
    for path in [*REPO.glob("config/*.yaml"), REPO / ".test/config/config.yaml", defaults.SCHEMA_FILE]:
        assert f"`{path.relative_to(REPO)}`" in text, path
    first = re.findall(r"^- \*\*`([a-z_.]+)`\*\*", text, re.M)
    assert {"dataset.source", "dataset.local_path", "split.method", "experiments", "nnunet.device"} <= set(first)
    assert "results_dir" in first
    for key in re.findall(
        r"`((?:dataset|preprocessing|registration|split|nnunet|evaluation|figures)\.[a-z_.]+)`", text
    ):
        defaults.default(key.rstrip("."))  # every key named is a key of the schema (KeyError otherwise)


def test_the_catalogs_entry_point_plans_the_whole_workflow(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            REPO / "workflow/Snakefile",
            "-d",
            tmp_path,
            "-n",
            "--quiet",
            "rules",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert re.search(r"^all\s+1$", out, re.M) and re.search(r"^register_mr\s+42$", out, re.M)
