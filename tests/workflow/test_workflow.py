"""Snakemake end to end on the phantom: the real rules, scripts and config validation."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from scipy import stats

from tests.support.chain_checks import chain_problems
from tests.support.figure_checks import assert_figure
from tests.support.workflow_runs import REPO, snakemake_in

_snakemake = snakemake_in


@pytest.fixture
def workdir(tmp_path) -> Path:
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / ".test/config/config.yaml", tmp_path / "config/config.yaml")
    return tmp_path


def _copy_run(finished_run: Path, target: Path) -> Path:
    """A finished run in another folder, Snakemake's records included (file times kept): nothing needs redoing."""
    shutil.copytree(finished_run, target, symlinks=True)
    return target


def _split(results: Path) -> tuple[pd.DataFrame, list[str]]:
    split = pd.read_csv(results / "split/split.tsv", sep="\t")
    return split, sorted(split.loc[split.role == "test", "case"])


@pytest.mark.slow
def test_phantom_run_writes_every_stage(finished_run):
    workdir, results = finished_run, finished_run / "results"
    cases = pd.read_csv(results / "inventory/cases.tsv", sep="\t")
    assert list(cases["case"]) == ["case_01", "case_02", "case_03", "case_04"]
    organs = pd.read_csv(results / "inventory/organs.tsv", sep="\t")
    assert len(organs) == 120
    for case in cases["case"]:
        clipped = sitk.ReadImage(str(results / f"cases/{case}/ct_clipped.nrrd"))
        original = sitk.ReadImage(str(results / f"data/HaN-Seg/set_1/{case}/{case}_IMG_CT.nrrd"))
        assert clipped.GetOrigin() == original.GetOrigin() and clipped.GetSize() == original.GetSize()
        assert sitk.GetArrayViewFromImage(clipped).max() <= 3000
        assert (results / f"logs/clip_ct/{case}.log").is_file()
    assert not (workdir / "logs").exists() and not (workdir / "benchmarks").exists()  # all under results_dir
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
        assert (results / f"benchmarks/register_mr/{case}.tsv").is_file()
    # nnU-Net, per experiment: predictions for exactly the split's test cases, on the resampled CT grid, official ids
    split, test_cases = _split(results)
    assert len(test_cases) == 1 and len(split) == 4
    for variant in ("ct_mr",):
        experiment = results / "experiments" / variant
        assert sorted(p.stem for p in (experiment / "predictions").glob("*.nrrd")) == test_cases
        for case in test_cases:
            prediction = sitk.ReadImage(str(experiment / f"predictions/{case}.nrrd"))
            ct = sitk.ReadImage(str(results / f"cases/{case}/resampled/ct.nrrd"))
            assert prediction.GetSize() == ct.GetSize() and prediction.GetOrigin() == ct.GetOrigin()
            assert prediction.GetSpacing() == ct.GetSpacing() and prediction.GetDirection() == ct.GetDirection()
            assert sitk.GetArrayViewFromImage(prediction).max() <= 30
        checkpoint = next((experiment / "nnunet/results").rglob("fold_all/checkpoint_final.pth"))
        training = json.loads((checkpoint.parent / "hanseg_training.json").read_text())
        assert training["trainer"] == "HanSegTrainerNoDAAdam" and training["plans"] == "nnUNetPlans_cpu"
        assert checkpoint.parent.parent.name == "HanSegTrainerNoDAAdam__nnUNetPlans_cpu__3d_fullres"
        dataset = json.loads(next((experiment / "nnunet/raw").glob("Dataset*/dataset.json")).read_text())
        assert dataset["channel_names"] == {"0": "CT", "1": "MR"}
        # evaluation and Table 2
        per_case = pd.read_csv(experiment / "evaluation/per_case.tsv", sep="\t")
        assert sorted(per_case.case.unique()) == test_cases and len(per_case) == 30 * len(test_cases)
        assert {"sdice_2mm", "assd_mm"} <= set(per_case.columns)
        table = (experiment / "evaluation/table2.md").read_text()
        assert "| Parotid | Parotid glands (both) |" in table and "±" in table and "population SD" in table
        surface = (experiment / "evaluation/table2_surface.md").read_text()
        assert "| OAR | Name | N | sDice 2 mm (%) | ASSD (mm) |" in surface
        vs_paper = pd.read_csv(experiment / "evaluation/table2_vs_paper.csv", keep_default_na=False, na_values=["nan"])
        assert {"dc_ci_low_pct", "hd95_ci_high_mm", "dc_verdict", "hd95_verdict"} <= set(vs_paper.columns)
        assert set(vs_paper["dc_verdict"]) == {"n/a"}  # one test case: too few for an interval
        assert "swapped pair(s)" in (experiment / "evaluation/laterality.md").read_text()
    ceiling = pd.read_csv(results / "evaluation/overlap_ceiling.csv")
    assert (ceiling["dice_ceiling_min"] <= 1).all()
    # nnU-Net's own plans are kept beside the derived, smaller ones, untouched
    preprocessed = next((results / "experiments/ct_mr/nnunet/preprocessed").glob("Dataset*"))
    own, small = (json.loads((preprocessed / f"{n}.json").read_text()) for n in ("nnUNetPlans", "nnUNetPlans_cpu"))
    assert own["plans_name"] == "nnUNetPlans" and small["plans_name"] == "nnUNetPlans_cpu"
    small_arch = small["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    assert small_arch["features_per_stage"] == [8, 16, 32, 64]
    assert own["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]["features_per_stage"][0] == 32
    _check_figures_tables_and_report(workdir, results)
    again = _snakemake(workdir, "--cores", "2")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def _chain_problems(experiment: Path, case: str) -> list[str]:
    """What says that the chain (conversion, training, prediction, evaluation) is wrong for one test case."""
    return chain_problems(
        pd.read_csv(experiment / f"evaluation/cases/{case}.tsv", sep="\t"),
        pd.read_csv(experiment / f"evaluation/laterality/{case}.tsv", sep="\t", keep_default_na=False),
    )


@pytest.mark.slow
def test_the_model_learned_the_largest_organs_on_their_own_side(finished_run):
    """A few CPU minutes of training find the largest organs of the held-out case, none mirrored: the stages agree."""
    results = finished_run / "results"
    _, (case,) = _split(results)
    problems = _chain_problems(results / "experiments/ct_mr", case)
    assert problems == [], problems


@pytest.mark.slow
@pytest.mark.parametrize("corruption", ["mirrored left-right", "shifted by 2 voxels"])
def test_the_chain_check_fails_on_a_mirrored_or_shifted_prediction(finished_run, tmp_path, corruption):
    """The same check, on the same run with its prediction corrupted and the real rules rerun, must fail."""
    workdir = _copy_run(finished_run, tmp_path / "run")
    results = workdir / "results"
    _, (case,) = _split(results)
    experiment = results / "experiments/ct_mr"
    path = experiment / f"predictions/{case}.nrrd"
    prediction = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(prediction)
    if corruption == "mirrored left-right":
        array = array[:, :, ::-1]
    else:
        array = np.roll(array, (1, 2, 2), axis=(0, 1, 2))
    corrupted = sitk.GetImageFromArray(np.ascontiguousarray(array))
    corrupted.CopyInformation(prediction)
    sitk.WriteImage(corrupted, str(path), useCompression=True)
    targets = [f"results/experiments/ct_mr/evaluation/{t}/{case}.tsv" for t in ("cases", "laterality")]
    result = _snakemake(workdir, "--cores", "2", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule nnunet_predict" not in result.stdout + result.stderr  # the corrupted file itself was scored
    problems = _chain_problems(experiment, case)
    assert problems, f"the check did not notice a prediction {corruption}"


@pytest.mark.slow
def test_a_second_experiment_reuses_every_upstream_job_and_is_compared(run_with_a_second_experiment):
    """Adding a CT-only experiment to a finished run trains only that model; the pair is compared with scipy's test."""
    results = run_with_a_second_experiment["workdir"] / "results"
    log = run_with_a_second_experiment["log"]
    for rule in ("register_mr", "resample", "split"):
        assert not re.search(rf"rule {rule}:", log), f"{rule} ran again"
    ran = re.findall(r"rule (nnunet_\w+):\n(?:.*\n)*?\s+wildcards: ([^\n]*)", log)
    assert ran and all(re.search(r"variant=(ct|resenc)(,|$)", w) for _, w in ran), ran
    # resenc (ResEnc M on CT, CPU-sized) shares ct's dataset and preprocessing: it adds planning and its training only
    jobs = Counter(rule for rule, _ in ran)
    assert jobs["nnunet_dataset"] == jobs["nnunet_plan_preprocess"] == 1 and jobs["nnunet_train"] == 2, jobs
    assert jobs["nnunet_plan"] == 2  # nnU-Net's ResEnc M plans, and the CPU-sized plans derived from them
    resenc_model = "HanSegTrainerNoDAAdam__nnUNetResEncUNetMPlans_cpu__3d_fullres"
    assert (results / f"experiments/ct/nnunet/results/Dataset501_HaNSeg/{resenc_model}/fold_all").is_dir()
    assert (results / "experiments/resenc/evaluation/table2.md").is_file()
    assert (results / "experiments/ct/evaluation/table2.md").is_file()
    comparison = pd.read_csv(results / "experiments/comparison_ct_vs_ct_mr.csv", na_values=["nan"])
    required = {"organ", "n", "dc_diff_mean", "dc_p_wilcoxon", "dc_p_holm", "hd95_diff_mean", "hd95_p_wilcoxon"}
    assert required <= set(comparison.columns)
    a, b = (pd.read_csv(results / f"experiments/{v}/evaluation/per_case.tsv", sep="\t") for v in ("ct", "ct_mr"))
    both = a[a.evaluated].merge(b[b.evaluated], on=["case", "organ"], suffixes=("_a", "_b"))
    for row in comparison.itertuples():
        pair = both[both.organ == row.organ]
        differences = 100 * (pair.dc_a - pair.dc_b).to_numpy()
        expected = stats.wilcoxon(differences).pvalue if np.any(differences) else np.nan
        assert row.n == len(pair) and np.isclose(row.dc_p_wilcoxon, expected, equal_nan=True), row.organ
        assert np.isclose(row.dc_diff_mean, differences.mean())
    assert "# ct vs ct_mr: paired differences" in (results / "experiments/comparison_ct_vs_ct_mr.md").read_text()


@pytest.mark.slow
def test_one_dropout_model_is_scored_with_ct_and_mr_with_ct_alone_and_without_postprocessing(
    run_with_dropout_experiments,
):
    """Two-fold cross-validation: the dropout model trains once per fold in ct_mr's nnU-Net dataset (no dataset of its
    own), its decision is made once from both folds, `dropout_ct` predicts again from CT alone, `dropout_no_pp`
    predicts nothing (it scores dropout's own predictions as the network left them)."""
    results = run_with_dropout_experiments["workdir"] / "results"
    log = run_with_dropout_experiments["log"]
    ran = Counter(re.findall(r"rule (\w+):\n(?:.*\n)*?\s+wildcards: variant=(\w+)", log))
    assert ran[("nnunet_train", "ct_mr")] == 2 and ran[("nnunet_postprocessing", "ct_mr")] == 1, ran
    assert ran[("nnunet_dataset", "ct_mr")] == 1 and not any(v == "dropout" for r, v in ran if r == "nnunet_dataset")
    assert ran[("nnunet_predict", "dropout")] == ran[("nnunet_predict", "dropout_ct")] == 4
    assert not any(v == "dropout_no_pp" for r, v in ran if r in ("nnunet_predict", "postprocess_prediction"))
    model = "HanSegTrainerNoDAAdamModalityDropout__nnUNetPlans_cpu__3d_fullres"
    assert (results / f"experiments/ct_mr/nnunet/results/Dataset501_HaNSeg/{model}/postprocessing.json").is_file()
    tables = {
        name: pd.read_csv(results / f"experiments/{name}/evaluation/per_case.tsv", sep="\t")
        for name in ("dropout", "dropout_ct", "dropout_no_pp")
    }
    assert all(len(t) and set(t.case) == {"case_01", "case_02", "case_03", "case_04"} for t in tables.values())
    with_mr, ct_alone = (
        sitk.GetArrayFromImage(sitk.ReadImage(str(results / f"experiments/{n}/predictions/case_01.nrrd")))
        for n in ("dropout", "dropout_ct")
    )
    assert with_mr.shape == ct_alone.shape  # the same model and grid; what it was given differs


@pytest.mark.slow
def test_cosmetic_config_edits_redo_no_planning_or_training(finished_run, tmp_path):
    """How a job runs (device, checkpoint interval) and what is drawn or evaluated never re-plans or retrains."""
    workdir = _copy_run(finished_run, tmp_path / "run")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["nnunet"].update({"device": "cuda", "checkpoint_every": 3})
    config["figures"] = {"case": "case_02"}
    config["evaluation"] = {"hd_percentile": 90, "min_volume_fraction": 0.3}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    result = _snakemake(workdir, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = result.stdout + result.stderr
    assert not re.search(r"^nnunet_(plan_preprocess|train|predict|dataset)\s", planned, re.M), planned
    assert re.search(r"^evaluate\s", planned, re.M)  # the evaluation keys did change what evaluate computes
    # The training budget retrains, but does not re-plan
    config["nnunet"]["epochs"] += 1
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    planned = _snakemake(workdir, "-n", "--quiet", "rules")
    out = planned.stdout + planned.stderr
    assert re.search(r"^nnunet_train\s+1$", out, re.M) and not re.search(r"^nnunet_plan_preprocess\s", out, re.M)


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
    assert "| all | 4 (100%) |" in table1 and "| CT | 64 × 64 |" in table1
    assert len(pd.read_csv(results / "tables/table1.csv")) == 6  # all, train, test x CT, MR
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["run"].startswith("demo") and provenance["versions"]["snakemake"]
    configured = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())["nnunet"]
    assert [(t["experiment"], t["epochs"]) for t in provenance["training"]["folds"]] == [
        ("ct_mr", configured["epochs"])
    ]
    assert "Plans: nnUNetPlans_cpu, derived from nnU-Net's own plans" in (results / "provenance.md").read_text()
    report = _snakemake(workdir, "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "results/report.html").read_text(encoding="utf-8")
    for caption in sorted((REPO / "workflow/report").glob("*.rst")):
        if caption.name == "workflow.rst" or caption.name.startswith("comparison"):
            continue  # the CI config has one experiment: nothing to compare
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
        log = (workdir / f"results/logs/inventory_case/{case}.log").read_text()
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


def test_real_config_with_three_experiments_registers_each_case_once(tmp_path):
    """Experiments share every upstream job: one registration per case, one training per experiment."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    config["experiments"] = {
        "ct_mr": {"channels": ["CT", "MR"]},
        "ct": {"channels": ["CT"]},
        "ct_mr_fov": {"channels": ["CT", "MR_FOV", "FOV"]},
    }
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    result = _snakemake(tmp_path, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    expected = {"register_mr": 42, "resample": 42, "split": 1, "nnunet_dataset": 3, "nnunet_train": 3}
    for rule, count in expected.items():
        assert re.search(rf"^{rule}\s+{count}$", out, re.M), (rule, out)
    assert re.search(r"^compare_experiments\s+2$", out, re.M)  # ct and ct_mr_fov, each against ct_mr


def _dry_run_jobs(folder: Path, experiments: dict) -> tuple[dict[str, int], str]:
    """The job counts and the output of a dry run of the real config (5-fold cross-validation) with `experiments`."""
    folder.mkdir()
    shutil.copytree(REPO / "config", folder / "config")
    config = yaml.safe_load((folder / "config/config.yaml").read_text())
    config["experiments"] = experiments
    config["split"] = {"method": "cv", "folds": 5}
    (folder / "config/config.yaml").write_text(yaml.safe_dump(config))
    result = _snakemake(folder, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    stats = out[out.index("Job stats:") :].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}, out


def test_a_resenc_m_experiment_adds_its_plans_and_one_training_per_fold_and_nothing_upstream(tmp_path):
    """The real config's dry run with nnU-Net's residual-encoder preset M beside the paper's model: its plans
    identifier is shown with its cost, it trains once per fold from the same preprocessed data (one planning job,
    no second dataset or preprocessing), and every job before nnU-Net is the same."""
    paper = {"ct_mr": {"channels": ["CT", "MR"]}}
    before, _ = _dry_run_jobs(tmp_path / "paper", paper)
    resenc = {"channels": ["CT", "MR"], "plans": "nnUNetResEncUNetMPlans"}
    after, out = _dry_run_jobs(tmp_path / "resenc", paper | {"resenc_m": resenc})
    added = {rule: after.get(rule, 0) - before.get(rule, 0) for rule in after}
    assert added["nnunet_train"] == 5 and added["nnunet_plan"] == 1, added
    for rule in ("register_mr", "resample", "split", "nnunet_dataset", "nnunet_plan_preprocess"):
        assert added[rule] == 0, (rule, added)
    assert "HanSegTrainer__nnUNetResEncUNetMPlans__3d_fullres/fold_4/checkpoint_final.pth" in out
    assert re.search(r"resenc_m: HanSegTrainer__nnUNetResEncUNetMPlans__3d_fullres x 5 fold\(s\); .* 9\.1 GB", out)
    # what is added downstream: the new experiment's Table 2, left/right check and its comparison with ct_mr
    assert set(added) - {"all", "total"} <= {
        "nnunet_train",
        "nnunet_plan",
        "register_mr",
        "resample",
        "split",
        "nnunet_dataset",
        "nnunet_plan_preprocess",
        "aggregate",
        "laterality_summary",
        "compare_experiments",
        "comparison_figure",
        "nnunet_postprocessing",  # its decision (cv), made once per trained model
    } | {rule for rule, count in added.items() if count == 0}, added


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
