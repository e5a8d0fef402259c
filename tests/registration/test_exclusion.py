"""registration.on_fail: a failed registration QC stops the run (error) or leaves the case out (exclude).

Unit tests of hanseg.registration.qc_verdict, the provenance's QC listing and Table 1 / Figure 2 with
an excluded set; end to end, on copies of the shared CI phantom run, thresholds taken from its QC values make exactly
the worst registration fail, up to the split and nnU-Net's raw dataset.
"""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from hanseg.core import dataset_layout, defaults
from hanseg.dataset.splits import exclusion_note, make_split
from hanseg.registration import qc_measures
from hanseg.registration.errors import RegistrationQCError
from hanseg.registration.qc_verdict import (
    ON_FAIL,
    apply_on_fail,
    exclusion_reason,
    failed_registrations,
    qc_rows,
    read_reports,
)
from hanseg.reporting.figures.cohort import figure2
from hanseg.reporting.provenance import provenance, to_markdown, write_provenance
from hanseg.reporting.table1 import table1
from hanseg.reporting.table1 import to_markdown as table1_markdown
from tests.support.figure_checks import assert_figure
from tests.support.workflow_runs import REPO, snakemake_in


def _qc(status: str, value: float | None) -> dict:
    return {
        "status": status,
        "measure": "skin_distance_mm",
        "value": value,
        "unit": "mm",
        "higher_is_better": False,
        "thresholds": {"warn": 3.0, "fail": 6.0},
    }


REPORTS = {
    "case_01": {"qc": _qc("pass", 2.1), "versions": {"itk-elastix": "0.25.4"}},
    "case_02": {"qc": _qc("fail", 7.1)},
    "case_03": {"qc": _qc("warn", 4.4)},
    "case_04": {"qc": _qc("fail", None)},  # nothing left to measure
    "case_05": {"head_dice": {"final": 0.9}},  # a report from before the QC existed: it passed the old gate
}


def _write_reports(root, reports=REPORTS) -> list:
    paths = []
    for case, report in reports.items():
        path = root / "cases" / case / "registration" / "registration.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(report))
        paths.append(path)
    return paths


def test_on_fail_is_a_config_key_whose_default_is_error():
    assert defaults.default("registration.on_fail") == ON_FAIL[0] == "error"
    node = defaults.schema()["properties"]["registration"]["properties"]["on_fail"]
    assert tuple(node["enum"]) == ON_FAIL and node["description"]


def test_failed_registrations_are_read_from_the_reports_with_their_reasons(tmp_path):
    reports = read_reports(_write_reports(tmp_path))
    assert sorted(reports) == sorted(REPORTS)  # the case is read from the layout's path
    assert failed_registrations(reports) == {
        "case_02": "registration QC fail: skin_distance_mm 7.1 mm above the fail threshold 6 mm",
        "case_04": "registration QC fail: skin_distance_mm not measurable",
    }
    higher = {**_qc("fail", 0.41), "measure": "ngf", "unit": "", "higher_is_better": True}
    higher["thresholds"] = {"warn": 0.6, "fail": 0.5}
    assert exclusion_reason(higher) == "registration QC fail: ngf 0.41 below the fail threshold 0.5"
    rows = {row["case"]: row for row in qc_rows(reports)}
    assert [rows[c]["status"] for c in sorted(rows)] == ["pass", "fail", "warn", "fail", "pass"]
    assert rows["case_02"] == {
        "case": "case_02",
        "status": "fail",
        "measure": "skin_distance_mm",
        "value": 7.1,
        "unit": "mm",
        "warn": 3.0,
        "fail": 6.0,
    }
    assert rows["case_05"]["measure"] is None and rows["case_05"]["value"] is None
    assert exclusion_note({}) == ""


def test_a_fail_raises_under_error_and_is_one_warning_line_under_exclude(tmp_path, caplog):
    report, png = REPORTS["case_02"], tmp_path / "qc.png"
    with pytest.raises(RegistrationQCError, match="case_02: registration QC fail"):
        apply_on_fail(report, "case_02", png, "error")
    with caplog.at_level(logging.INFO):
        assert apply_on_fail(report, "case_02", png, "exclude") == "fail"
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    line = record.getMessage()
    assert record.levelno == logging.WARNING and "\n" not in line
    for part in ("case_02", "skin_distance_mm", "7.1 mm", "6.0 mm", str(png), "registration.on_fail: exclude"):
        assert part in line, (part, line)
    for case, on_fail in (("case_01", "error"), ("case_03", "exclude"), ("case_05", "error")):
        expected = REPORTS[case].get("qc", {}).get("status", "pass")
        assert apply_on_fail(REPORTS[case], case, png, on_fail) == expected
    with pytest.raises(ValueError, match="on_fail"):
        apply_on_fail(report, "case_02", png, "ignore")


def _cohort() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 12
    return pd.DataFrame(
        {
            "case": [dataset_layout.case_id(i) for i in range(1, n + 1)],
            "age": rng.integers(35, 80, n).astype(float),
            "gender": ["M", "F", "M"] * 4,
        }
    )


def test_provenance_lists_every_cases_qc_and_the_excluded(tmp_path):
    paths = _write_reports(tmp_path)
    reports = read_reports(paths)
    cohort = _cohort().head(5)
    split = make_split(cohort, "holdout", excluded=failed_registrations(reports))
    config = {"split": {"method": "holdout"}, "registration": {"on_fail": "exclude"}}
    record = provenance(config, split, [], registration_reports=paths)
    write_provenance(record, tmp_path / "provenance.json", tmp_path / "provenance.md")
    assert json.loads((tmp_path / "provenance.json").read_text())["registration_qc"] == record["registration_qc"]
    assert record["split"]["excluded"] == failed_registrations(reports)
    assert record["split"]["counts"]["excluded"] == 2
    qc = record["registration_qc"]
    assert qc["on_fail"] == "exclude" and qc["counts"] == {"pass": 2, "warn": 1, "fail": 2}
    assert [(row["case"], row["status"], row["value"]) for row in qc["cases"]] == [
        ("case_01", "pass", 2.1),
        ("case_02", "fail", 7.1),
        ("case_03", "warn", 4.4),
        ("case_04", "fail", None),
        ("case_05", "pass", None),
    ]
    assert record["versions"]["itk-elastix"] == "0.25.4"
    text = to_markdown(record)
    section = text.split("## Registration QC", 1)[1].split("\n## ", 1)[0]
    assert "pass 2, warn 1, fail 2; registration.on_fail: exclude (excluded: case_02, case_04)." in section
    assert "| case_02 | fail | skin_distance_mm | 7.1 mm | 3 | 6 |" in section
    assert "| case_04 | fail | skin_distance_mm | n/a | 3 | 6 |" in section
    assert "| case_05 | pass | not recorded |  |  |  |" in section
    split_section = text.split("## Split", 1)[1].split("\n## ", 1)[0]
    assert "excluded 2" in split_section
    assert "case_02 (registration QC fail: skin_distance_mm 7.1 mm above the fail threshold 6 mm)" in split_section
    # Without exclusions: every case's status, and what a fail would do.
    plain = provenance({"split": {"method": "holdout"}}, make_split(cohort, "holdout"), [], registration_reports=paths)
    assert plain["split"]["excluded"] == {} and plain["registration_qc"]["on_fail"] == "error"
    assert "registration.on_fail: error (a fail stops the run)." in to_markdown(plain)
    assert "Excluded" not in to_markdown(plain).split("## Software versions")[0]


def test_table1_and_figure2_show_the_excluded_set(tmp_path):
    cohort = _cohort()
    excluded = {"case_03": "registration QC fail: skin_distance_mm 7.1 mm above the fail threshold 6 mm"}
    split = make_split(cohort, "holdout", excluded=excluded)
    cases = cohort.copy()
    for m in ("ct", "mr"):
        cases[[f"{m}_size_x", f"{m}_size_y", f"{m}_size_z"]] = [512, 512, 100]
        cases[[f"{m}_spacing_x", f"{m}_spacing_z"]] = [1.0, 2.0]
    table = table1(cases, split)
    counts = table.loc[table.modality == "CT"].set_index("set")["cases"].to_dict()
    assert counts == {"all": 12, "train": 8, "test": 3, "excluded": 1}
    assert "Excluded: cases whose registration failed QC" in table1_markdown(table)
    plain = table1(cases, make_split(cohort, "holdout"))
    assert "excluded" not in set(plain["set"]) and "Excluded" not in table1_markdown(plain)
    assert_figure(figure2(split, tmp_path / "figure2.png", method="holdout"))


# ---- end to end ------------------------------------------------------------------------------------------------
CI_CASES = [dataset_layout.case_id(i) for i in range(1, 5)]
REGISTRATIONS = [f"results/cases/{case}/registration/registration.json" for case in CI_CASES]
NNUNET_RAW = "results/experiments/ct_mr/nnunet/raw/Dataset501_HaNSeg"
TARGETS = ["results/split/split.tsv", f"{NNUNET_RAW}/dataset.json"]


def _configure(workdir, registration: dict) -> None:
    """The CI phantom's config with `registration` merged into its registration section."""
    config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    config.setdefault("registration", {}).update(registration)
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


#: The check whose thresholds the test moves (every other check stays permissive).
GATED = qc_measures.CHECKS[0]


def _permissive() -> dict[str, dict[str, float]]:
    """Thresholds every registration passes: every check lower-is-better here, so far above any value."""
    assert not any(qc_measures.CANDIDATES[name][1] for name in qc_measures.CHECKS)
    return {name: {"warn": 1e3, "fail": 1e4} for name in qc_measures.CHECKS}


def _thresholds_failing_the_worst(qcs: dict[str, dict]) -> tuple[str, dict[str, dict[str, float]]]:
    """The worst case by the gated check, and thresholds under which it alone fails: fail halfway between it and the
    second worst, warn below every value (so every other case warns)."""
    values = {case: qc["checks"][GATED]["value"] for case, qc in qcs.items()}
    ranked = sorted(values, key=values.get, reverse=True)  # worst first
    worst, second = (values[case] for case in ranked[:2])
    assert worst != second, values
    gated = {"warn": round(min(values.values()) / 2, 4), "fail": round((worst + second) / 2, 4)}
    return ranked[0], {**_permissive(), GATED: gated}


@pytest.mark.slow
def test_on_fail_exclude_leaves_the_worst_registration_out_and_error_stops_the_run(finished_run, tmp_path):
    # 1. The shared CI phantom run: every registration passed; read each case's QC values.
    qcs = {case: report["qc"] for case, report in read_reports(finished_run / p for p in REGISTRATIONS).items()}
    assert {qc["status"] for qc in qcs.values()} == {"pass"}, qcs
    worst, thresholds = _thresholds_failing_the_worst(qcs)

    # 2. exclude, on a copy of that run: the worst registration is redone under the new thresholds (elastix is
    # deterministic: the same value) and fails; it is left out. The others are not redone (params are no rerun
    # trigger here; under these thresholds they would only warn): CI time.
    excluding = tmp_path / "exclude"
    shutil.copytree(finished_run, excluding, symlinks=True)  # file times and Snakemake's records kept
    _configure(excluding, {"qc": thresholds, "on_fail": "exclude"})
    forced = f"results/cases/{worst}/registration/registration.json"
    run = snakemake_in(
        excluding, *TARGETS, "--cores", "2", "--rerun-triggers", "mtime", "input", "--forcerun", forced
    )  # --forcerun last: it takes many
    assert run.returncode == 0, run.stderr[-3000:]
    results = excluding / "results"
    reports = read_reports(excluding / p for p in REGISTRATIONS)
    statuses = {case: report["qc"]["status"] for case, report in reports.items()}
    assert statuses == {case: "fail" if case == worst else "pass" for case in CI_CASES}, (statuses, thresholds)
    warnings = [
        line for line in (results / f"logs/register_mr/{worst}.log").read_text().splitlines() if "WARNING" in line
    ]
    assert len(warnings) == 1, warnings
    value = f"{reports[worst]['qc']['value']:.3g}"
    assert reports[worst]["qc"]["measure"] == GATED
    for part in (worst, GATED, value, f"{thresholds[GATED]['fail']}", "qc.png"):
        assert part in warnings[0], (part, warnings[0])
    split = pd.read_csv(results / "split/split.tsv", sep="\t").set_index("case")
    assert split.loc[worst, "role"] == "excluded" and split.loc[worst, "fold"] == -1
    reason = split.loc[worst, "excluded_because"]
    assert reason.startswith(f"registration QC fail: {reports[worst]['qc']['measure']} {value}"), reason
    assert set(split.drop(index=worst)["role"]) == {"train", "test"}
    dataset = json.loads((excluding / TARGETS[1]).read_text())
    assert dataset["numTraining"] == int((split["role"] == "train").sum())
    assert worst in dataset["description"]
    images = [
        p.name for folder in ("imagesTr", "labelsTr", "imagesTs") for p in (excluding / NNUNET_RAW / folder).iterdir()
    ]
    assert images and not [name for name in images if name.startswith(worst)], images
    for name in ("mr_in_ct.nrrd", "fov_mask.nrrd", "qc.png", "registration.json"):  # nothing computed is removed
        assert (results / f"cases/{worst}/registration" / name).is_file(), name

    # 3. error (the default), the same thresholds: the worst registration's job fails with one line naming it. On a
    # copy of that run: on_fail is read at run time (switching it reruns no registration), so the failed one is
    # forced, as the schema's description tells users to (the others are kept: this stays a short test).
    stopping = tmp_path / "error"
    shutil.copytree(excluding, stopping, symlinks=True)  # file times and Snakemake's records kept
    _configure(stopping, {"qc": thresholds})
    forced = f"results/cases/{worst}/registration/registration.json"
    stopped = snakemake_in(stopping, *TARGETS, "--cores", "2", "--forcerun", forced)  # --forcerun last: it takes many
    assert stopped.returncode != 0
    log = (stopping / f"results/logs/register_mr/{worst}.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in log, log
    assert re.search(rf"{worst}: registration QC fail: .*{re.escape(value)}.*qc\.png", errors[0]), errors[0]
    assert errors[0].split("ERROR", 1)[1] in stopped.stderr  # the message reaches the terminal too
    assert not (stopping / f"results/cases/{worst}/registration/registration.json").exists()  # Snakemake's cleanup
    assert (stopping / f"results/logs/register_mr/{worst}.qc.png").is_file()  # the picture the message points to


def test_a_dry_run_with_exclude_still_plans_training_before_anything_ran(tmp_path):
    """The split waits for every registration under exclude, yet the DAG stays static: training is planned."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    config["registration"]["on_fail"] = "exclude"
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake_in(tmp_path, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    for rule, count in {"register_mr": 42, "split": 1, "nnunet_dataset": 1, "nnunet_train": 1}.items():
        assert re.search(rf"^{rule}\s+{count}$", out, re.M), (rule, out)
