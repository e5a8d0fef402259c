"""Snakemake end to end on the phantom: the real rules, scripts and config validation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk
from figure_checks import assert_figure

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True)


@pytest.fixture
def workdir(tmp_path) -> Path:
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / ".test/config/config.yaml", tmp_path / "config/config.yaml")
    return tmp_path


@pytest.mark.slow
def test_phantom_run_then_nothing_to_redo(workdir):
    result = _snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    results = workdir / "results"
    cases = pd.read_csv(results / "inventory/cases.tsv", sep="\t")
    assert list(cases["case"]) == ["case_01", "case_02", "case_03"]
    organs = pd.read_csv(results / "inventory/organs.tsv", sep="\t")
    assert len(organs) == 90
    for case in cases["case"]:
        clipped = sitk.ReadImage(str(results / f"cases/{case}/ct_clipped.nrrd"))
        original = sitk.ReadImage(str(results / f"data/HaN-Seg/set_1/{case}/{case}_IMG_CT.nrrd"))
        assert clipped.GetOrigin() == original.GetOrigin() and clipped.GetSize() == original.GetSize()
        assert sitk.GetArrayViewFromImage(clipped).max() <= 3000
        assert (workdir / f"logs/clip_ct/{case}.log").is_file()
    assert (results / "phantom/truth/case_01/landmarks_mr.csv").is_file()
    for case in cases["case"]:
        registration = json.loads((results / f"cases/{case}/registration/registration.json").read_text())
        assert registration["head_agreement"]["final"] > 0.85
        assert "tre_mm" in registration  # the phantom's truth landmarks are picked up automatically
        assert (results / f"cases/{case}/registration/qc.png").stat().st_size > 10_000
        labels = sitk.ReadImage(str(results / f"cases/{case}/resampled/labels.nrrd"))
        assert labels.GetSpacing() == (4.0, 4.0, 8.0)  # .test/config: preprocessing.target_spacing
        ct = sitk.ReadImage(str(results / f"cases/{case}/resampled/ct.nrrd"))
        mr = sitk.ReadImage(str(results / f"cases/{case}/resampled/mr.nrrd"))
        assert ct.GetSize() == mr.GetSize() == labels.GetSize() and ct.GetOrigin() == mr.GetOrigin()
        assert (workdir / f"benchmarks/register_mr/{case}.tsv").is_file()
    # nnU-Net: predictions for exactly the split's test cases, on the resampled CT grid, with official ids
    split = pd.read_csv(results / "split/split.tsv", sep="\t")
    test_cases = sorted(split.loc[split.role == "test", "case"])
    assert len(test_cases) == 1 and len(split) == 3
    assert sorted(p.stem for p in (results / "predictions").glob("*.nrrd")) == test_cases
    for case in test_cases:
        prediction = sitk.ReadImage(str(results / f"predictions/{case}.nrrd"))
        ct = sitk.ReadImage(str(results / f"cases/{case}/resampled/ct.nrrd"))
        assert prediction.GetSize() == ct.GetSize() and prediction.GetOrigin() == ct.GetOrigin()
        assert prediction.GetSpacing() == ct.GetSpacing() and prediction.GetDirection() == ct.GetDirection()
        assert sitk.GetArrayViewFromImage(prediction).max() <= 30
    checkpoint = next((results / "nnunet/results").rglob("fold_all/checkpoint_final.pth"))
    training = json.loads((checkpoint.parent / "hanseg_training.json").read_text())
    assert training["trainer"] == "HanSegTrainer" and 2 not in training["inference_allowed_mirroring_axes"]
    # evaluation and Table 2
    per_case = pd.read_csv(results / "evaluation/per_case.tsv", sep="\t")
    assert sorted(per_case.case.unique()) == test_cases and len(per_case) == 30 * len(test_cases)
    assert {"sdice_2mm", "assd_mm"} <= set(per_case.columns)
    table = (results / "evaluation/table2.md").read_text()
    assert "| Parotid | Parotid glands (both) |" in table and "±" in table and "population SD" in table
    assert "| OAR | Name | N | sDice 2 mm (%) | ASSD (mm) |" in (results / "evaluation/table2_surface.md").read_text()
    vs_paper = pd.read_csv(results / "evaluation/table2_vs_paper.csv", keep_default_na=False, na_values=["nan"])
    assert {"dc_ci_low_pct", "hd95_ci_high_mm", "dc_verdict", "hd95_verdict"} <= set(vs_paper.columns)
    assert set(vs_paper["dc_verdict"]) == {"n/a"}  # one test case: too few for an interval
    ceiling = pd.read_csv(results / "evaluation/overlap_ceiling.csv")
    assert set(ceiling["organ"]) <= set(per_case["organ"]) and (ceiling["dice_ceiling_min"] <= 1).all()
    _check_figures_tables_and_report(workdir, results)
    again = _snakemake(workdir, "--cores", "2")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


FIGURES = (
    "figure1_ct_mr.png",
    "figure2_split.png",
    "figure3_organs_3d.png",
    "figure4_organs_overlay.png",
    "dc_hd95_boxplots.png",
    "table2_vs_paper_forest.png",
    "registration_montage.png",
    "tre_per_case.png",  # the phantom's truth landmarks give a TRE
)


def _check_figures_tables_and_report(workdir: Path, results: Path) -> None:
    """The default target drew every figure and table, and `snakemake --report` gathers them with their captions."""
    for name in FIGURES:
        assert_figure(results / "figures" / name, min_width=500)
    table1 = (results / "tables/table1.md").read_text(encoding="utf-8")
    assert "| all | 3 (100%) |" in table1 and "| CT | 64 × 64 |" in table1
    assert len(pd.read_csv(results / "tables/table1.csv")) == 6  # all, train, test x CT, MR
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["run"].startswith("demo") and provenance["versions"]["snakemake"]
    assert provenance["training"]["folds"][0]["epochs"] == 2
    report = _snakemake(workdir, "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "results/report.html").read_text(encoding="utf-8")
    for caption in sorted((REPO / "workflow/report").glob("*.rst")):
        if caption.name == "workflow.rst":
            continue
        opening = " ".join(caption.read_text(encoding="utf-8").split()[:6])  # before any template field
        assert opening in html, f"the report lacks the caption {caption.name}"


def test_broken_case_fails_with_its_name_and_file_and_keeps_other_work(workdir):
    assert _snakemake(workdir, "--cores", "1", "results/data/manifest.json").returncode == 0
    ct = workdir / "results/data/HaN-Seg/set_1/case_02/case_02_IMG_CT.nrrd"
    ct.write_bytes(ct.read_bytes()[:300])
    # A CT with NaN used to pass the inventory and clip_ct, and fail at registration with "Internal elastix error".
    ct3 = workdir / "results/data/HaN-Seg/set_1/case_03/case_03_IMG_CT.nrrd"
    image = sitk.Cast(sitk.ReadImage(str(ct3)), sitk.sitkFloat32)
    image[3, 4, 5] = float("nan")
    sitk.WriteImage(image, str(ct3))
    targets = ["results/inventory/cases.tsv", "results/cases/case_01/ct_clipped.nrrd"]
    result = _snakemake(workdir, "--cores", "1", "--keep-going", *targets)
    assert result.returncode != 0
    for case, line in (
        ("case_02", "ERROR hanseg.rule.inventory_case: case_02: case_02_IMG_CT.nrrd: cannot read the image"),
        ("case_03", "ERROR hanseg.rule.inventory_case: case_03: case_03_IMG_CT.nrrd: 1 NaN and 0 infinite voxels"),
    ):
        log = (workdir / f"logs/inventory_case/{case}.log").read_text()
        assert line in log and "Traceback" not in log, log  # one line saying what to do, no traceback
        assert not (workdir / f"results/inventory/cases/{case}.json").exists()
    assert (workdir / "results/cases/case_01/ct_clipped.nrrd").is_file()  # the healthy cases went on


def test_real_config_dry_run_plans_42_cases_without_data(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    result = _snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert re.search(r"^download_archive\s+1$", out, re.M)
    for rule in ("inventory_case", "clip_ct", "register_mr", "resample"):
        assert re.search(rf"^{rule}\s+42$", out, re.M), rule


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("dataset:\n  sorce: phantom\n", "sorce"),
        ("dataset:\n  phantom:\n    cases: many\n", "cases"),
        ("preprocessing:\n  hu_clip: [-1000]\n", "hu_clip"),
        ("dataset:\n  source: ftp\n", "ftp"),
    ],
)
def test_bad_config_fails_at_parse_time_naming_the_key(tmp_path, extra, named):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(extra)
    result = _snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert named in result.stderr + result.stdout


def test_local_folder_is_used_in_place(tmp_path, phantom_root):
    (tmp_path / "config").mkdir()
    local = phantom_root / "HaN-Seg"
    (tmp_path / "config/config.yaml").write_text(f"dataset:\n  source: local\n  local_path: {local}\n")
    result = _snakemake(tmp_path, "--cores", "2", "results/inventory/cases.tsv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "results/data/HaN-Seg").exists()  # nothing copied
    assert len(pd.read_csv(tmp_path / "results/inventory/cases.tsv", sep="\t")) == 3
