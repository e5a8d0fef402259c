"""The workflow deployed the Snakemake catalog's way: a user's own folder holding only a Snakefile that imports this
workflow as a `module` (as `snakedeploy deploy-workflow` writes it) and a config/ of its own. The CI phantom run
(tests/conftest.py, `finished_run`) is made from such a folder, so every result the other tests check came through
the module; this test checks the folder and its Table 2."""

from __future__ import annotations

import pandas as pd
import pytest

from hanseg.reporting.table2 import TABLE2_COLUMNS

USER_FILES = {"Snakefile", "config"}
#: What the run writes into the user's folder: the results and Snakemake's own state.
RUN_FILES = {"results", ".snakemake"}


@pytest.mark.slow
def test_a_folder_that_imports_the_workflow_as_a_module_runs_the_demo_to_table2(finished_run):
    snakefile = (finished_run / "Snakefile").read_text()
    assert "module hanseg:" in snakefile and "use rule * from hanseg" in snakefile
    assert "workflow/Snakefile" in snakefile and "include:" not in snakefile
    assert {path.name for path in finished_run.iterdir()} <= USER_FILES | RUN_FILES
    assert [path.name for path in (finished_run / "config").iterdir()] == ["config.yaml"]
    table2 = next((finished_run / "results/experiments").glob("*/evaluation/table2.csv"))
    rows = pd.read_csv(table2)
    assert tuple(rows.columns) == TABLE2_COLUMNS and len(rows) >= 30
    assert rows["n"].max() > 0 and rows["dc_mean_pct"].max() > 0, rows.head()
