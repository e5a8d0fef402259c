"""`hanseg segment` on the finished CI phantom run: a held-out case's own CT and MR, through the real command line.

The run's held-out test case (results/split/split.tsv) was never seen in training. Its label map from the command
line must lie on its CT's grid with the official ids, score like the workflow's own evaluation of the same case, and
equal the workflow's `segment` rule's result (one code path). The model-folder checks need no trained model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
import yaml

from hanseg.core import dataset_layout, defaults
from hanseg.core.errors import InputError
from hanseg.evaluation.case_files import evaluate_files
from hanseg.nnunet import MODEL_RECORD
from hanseg.nnunet.model import ModelError, check_inputs, read_model
from tests.support import REPO
from tests.support.model_folders import LeavesMarker, model_folder
from tests.support.workflow_runs import snakemake_in

#: Organs of at least this volume (mL, inside the MR's field of view) are "the largest organs" of the comparison.
LARGE_ML = 5.0
#: ...and those the model found, at least this Dice on its own grid. The probability back-map gives a CT voxel to an
#: organ only where the organ's interpolated probability beats the background's: an organ a short CPU training
#: segments without confidence (probabilities near 0.5) shrinks where the CT's voxels are coarser than the model's
#: (CI: 4.7 x 4.7 x 9.7 mm against 4 x 4 x 8 mm). One CI run lost its Larynx_SG so (Dice 0.40 -> 0.00) while its
#: found organs moved by -0.04..+0.03. That is the back-map on a weak model, not a grid error; a grid error (a shift,
#: a flip) shows on the found organs.
FOUND_DICE = 0.6

#: The CI config's registration QC thresholds (the CI phantom's voxels are 4.7 mm), as the workflow applied them.
CI_QC = [
    arg
    for name, t in yaml.safe_load((REPO / ".test/config/config.yaml").read_text())["registration"]["qc"].items()
    for arg in ("--qc", f"{name}={t['warn']},{t['fail']}")
]


def hanseg(*args: str | Path) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it (on this machine's CPU unless `args` name a device)."""
    args = tuple(map(str, args))
    if "--device" not in args:
        args += ("--device", "cpu")
    return subprocess.run(
        [sys.executable, "-m", "hanseg.cli", "segment", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts")},
    )


def _test_case(results: Path) -> str:
    split = pd.read_csv(results / "split/split.tsv", sep="\t")
    (case,) = split.loc[split.role == "test", "case"]
    return case


def _model(results: Path, experiment: str) -> Path:
    """The model folder the experiment trained (models of the same channels share one nnU-Net root)."""
    records = results.glob(f"experiments/*/nnunet/results/Dataset*/*__*__*/{MODEL_RECORD}")
    (record,) = [r for r in records if json.loads(r.read_text())["experiment"] == experiment]
    return record.parent


def _images(results: Path, case: str) -> tuple[Path, Path]:
    folder = results / f"data/HaN-Seg/set_1/{case}"
    return folder / dataset_layout.ct_name(case), folder / dataset_layout.mr_name(case)


#: A progress record of the command's log (INFO and WARNING lines go to stderr before any error).
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) ")


def _one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not LOG_RECORD.match(line)]
    assert len(lines) == 1 and lines[0].startswith("hanseg segment: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _large_organ_dice(table: pd.DataFrame, voxel_ml: float) -> pd.Series:
    scored = table[table["evaluated"].astype(str) == "True"]
    return scored[scored["ref_voxels"] * voxel_ml >= LARGE_ML].set_index("organ")["dc"]


@pytest.fixture(scope="module")
def segmented(finished_run, tmp_path_factory) -> dict:
    """The held-out case segmented once by the command line with the ct_mr model (intermediates kept)."""
    results = finished_run / "results"
    case = _test_case(results)
    ct, mr = _images(results, case)
    out = tmp_path_factory.mktemp("segment")
    result = hanseg(
        "--ct", ct, "--mr", mr, "--model", _model(results, "ct_mr"), "--out", out / f"{case}.nrrd",
        "--keep-intermediates", out / "work", "--threads", "2", *CI_QC,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return {"results": results, "case": case, "ct": ct, "mr": mr, "out": out, "stdout": result.stdout}


@pytest.mark.slow
def test_the_label_map_lies_on_the_ct_grid_with_the_official_ids(segmented):
    case, out = segmented["case"], segmented["out"]
    ct = sitk.ReadImage(str(segmented["ct"]))
    labels = sitk.ReadImage(str(out / f"{case}.nrrd"))
    assert labels.GetSize() == ct.GetSize() and labels.GetSpacing() == ct.GetSpacing()
    assert labels.GetOrigin() == ct.GetOrigin() and labels.GetDirection() == ct.GetDirection()
    assert labels.GetPixelID() == sitk.sitkUInt8
    array = sitk.GetArrayViewFromImage(labels)
    assert 0 <= array.min() and array.max() <= 30 and len(np.unique(array)) > 5
    assert [labels.GetMetaData(f"label_{i}") for i in range(1, 31)] == list(dataset_layout.ORGANS)
    summary = json.loads((out / "work/segment.json").read_text())
    assert summary["folds"] == ["all"] and summary["channels"] == ["CT", "MR"] and summary["backmap"] == "probabilities"
    assert (out / "work/registration/qc.png").is_file() and (out / "work/resampled/ct.nrrd").is_file()
    assert f"{case}.seg.nrrd" in segmented["stdout"]


@pytest.mark.slow
def test_the_slicer_segmentation_opens_with_its_30_segments(segmented):
    case, out = segmented["case"], segmented["out"]
    seg = sitk.ReadImage(str(out / f"{case}.seg.nrrd"))
    labels = sitk.ReadImage(str(out / f"{case}.nrrd"))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(seg), sitk.GetArrayViewFromImage(labels))
    assert seg.GetOrigin() == labels.GetOrigin() and seg.GetSpacing() == labels.GetSpacing()
    names = [seg.GetMetaData(f"Segment{n}_Name") for n in range(30)]
    assert names == list(dataset_layout.ORGANS)
    assert [int(seg.GetMetaData(f"Segment{n}_LabelValue")) for n in range(30)] == list(range(1, 31))


@pytest.mark.slow
def test_dice_on_the_largest_organs_matches_the_workflows_own_evaluation(segmented):
    """Scored on the CT's grid against the original masks (the workflow scores on the model's grid), over the large
    organs the model found, one difference at a time, each within 0.05: the segment rule's label map (the run's own
    registration) against the workflow's evaluation (the grids differ), then the command line's (which registers
    again) against the rule's (same grid)."""
    results, case, out = segmented["results"], segmented["case"], segmented["out"]
    folder = results / f"data/HaN-Seg/set_1/{case}"
    fov = results / f"cases/{case}/registration/fov_mask.nrrd"
    workflow = pd.read_csv(results / f"experiments/ct_mr/evaluation/cases/{case}.tsv", sep="\t")
    voxel_ml = np.prod(sitk.ReadImage(str(results / f"cases/{case}/resampled/labels.nrrd")).GetSpacing()) / 1000
    theirs = _large_organ_dice(workflow, voxel_ml)
    theirs = theirs[theirs >= FOUND_DICE]
    assert len(theirs) >= 4, workflow  # a model that found something to compare

    def dice_on_ct_grid(label_map: Path) -> pd.Series:
        scores = pd.DataFrame(evaluate_files(folder, label_map, fov, case=case, resolve_overlaps=True))
        return scores.set_index("organ").loc[theirs.index, "dc"]

    rule = dice_on_ct_grid(results / f"experiments/ct_mr/segmentations/{case}.nrrd")
    cli = dice_on_ct_grid(out / f"{case}.nrrd")
    table = pd.DataFrame({"workflow": theirs, "segment rule": rule, "segment command": cli})
    assert abs(rule.mean() - theirs.mean()) <= 0.05, table
    assert abs(cli.mean() - rule.mean()) <= 0.05, table


@pytest.mark.slow
def test_the_command_line_and_the_segment_rule_agree(segmented):
    """The rule reuses the run's registration, the command line registers again: the label maps barely differ."""
    results, case, out = segmented["results"], segmented["case"], segmented["out"]
    rule = sitk.GetArrayFromImage(sitk.ReadImage(str(results / f"experiments/ct_mr/segmentations/{case}.nrrd")))
    cli = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case}.nrrd")))
    foreground = (rule > 0) | (cli > 0)
    assert (rule == cli)[foreground].mean() > 0.95
    assert (results / f"experiments/ct_mr/segmentations/{case}.seg.nrrd").is_file()
    assert (results / f"benchmarks/segment/ct_mr/{case}.tsv").is_file()


def _hostile(folder: Path, kind: str, marker: Path) -> str:
    """Make the copy of a genuine model folder hostile; returns what the refusal names."""
    if kind == "checkpoint runs code":
        path = folder / "fold_all/checkpoint_final.pth"
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        checkpoint["logging"]["payload"] = LeavesMarker(marker)
        torch.save(checkpoint, path)
        return f"{path}: refused: the checkpoint asks to unpickle posix.system"
    if kind == "plans name other code":
        modules = marker.parent / "modules"
        modules.mkdir()
        (modules / "evil_net.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\nNet = None\n")
        plans = json.loads((folder / "plans.json").read_text())
        for configuration in plans["configurations"].values():
            if "architecture" in configuration:
                configuration["architecture"]["network_class_name"] = "evil_net.Net"
        (folder / "plans.json").write_text(json.dumps(plans))
        return f"{folder / 'plans.json'}: refused: network class 'evil_net.Net'"
    record = json.loads((folder / MODEL_RECORD).read_text())
    name = record["registration"]["parameter_files"][0]
    text = record["registration"]["parameters"][name]
    record["registration"]["parameters"][name] = text + '(WriteResultImage "true")\n'
    (folder / MODEL_RECORD).write_text(json.dumps(record))
    return "(WriteResultImage true) refused: elastix writes no files here"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["checkpoint runs code", "plans name other code", "elastix text writes files"])
def test_a_hostile_model_folder_is_refused_in_one_line_and_nothing_runs_or_is_written(finished_run, tmp_path, kind):
    results = finished_run / "results"
    case = _test_case(results)
    ct, mr = _images(results, case)
    folder = tmp_path / "model" / _model(results, "ct_mr").name
    shutil.copytree(_model(results, "ct_mr"), folder)
    marker = tmp_path / "marker"
    refused = _hostile(folder, kind, marker)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "hanseg.cli", "segment", "--ct", str(ct), "--mr", str(mr), "--model", str(folder),
         "--out", str(out / f"{case}.nrrd"), "--keep-intermediates", str(out / "work"), "--device", "cpu"],
        capture_output=True,
        text=True,
        # The payload's module is importable: only the check keeps it from running.
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "workflow/scripts"), str(tmp_path / "modules")])},
    )  # fmt: skip
    _one_error_line(result, refused)
    assert not marker.exists() and not out.exists()


@pytest.mark.slow
def test_a_ct_only_model_needs_no_mr(run_with_a_second_experiment, tmp_path):
    results = run_with_a_second_experiment["workdir"] / "results"
    case = _test_case(results)
    ct, _ = _images(results, case)
    result = hanseg("--ct", ct, "--model", _model(results, "ct"), "--out", tmp_path / "ct.nrrd", "--backmap", "nearest")
    assert result.returncode == 0, result.stderr[-3000:]
    labels = sitk.ReadImage(str(tmp_path / "ct.nrrd"))
    assert labels.GetSize() == sitk.ReadImage(str(ct)).GetSize() and labels.GetPixelID() == sitk.sitkUInt8
    assert sitk.GetArrayViewFromImage(labels).max() <= 30 and (tmp_path / "ct.seg.nrrd").is_file()


@pytest.mark.slow
def test_a_dropout_model_segments_a_ct_alone_and_applies_its_postprocessing(run_with_dropout_experiments, tmp_path):
    """The modality-dropout model of the two-fold run: its record accepts CT alone, so `--ct` without `--mr` gives a
    label map on the CT's grid; the model's post-processing decision (made from both folds) is applied as nnU-Net's
    own function applies it to the same prediction (`--no-postprocessing` gives that prediction)."""
    from nnunetv2.postprocessing.remove_connected_components import (
        apply_postprocessing,
        remove_all_but_largest_component_from_segmentation,
    )

    from hanseg.nnunet.decision_file import read_decision

    results = run_with_dropout_experiments["workdir"] / "results"
    model = _model(results, "dropout")
    assert json.loads((model / MODEL_RECORD).read_text())["accepted_inputs"] == [["CT", "MR"], ["CT"]]
    steps = read_decision(model / "postprocessing.json")
    ct, _ = _images(results, "case_01")
    outputs = {}
    for name, extra in (("applied", []), ("raw", ["--no-postprocessing"])):
        out = tmp_path / f"{name}.nrrd"
        result = hanseg("--ct", ct, "--model", model, "--out", out, "--backmap", "nearest", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        image = sitk.ReadImage(str(out))
        assert image.GetSize() == sitk.ReadImage(str(ct)).GetSize() and image.GetPixelID() == sitk.sitkUInt8
        outputs[name] = sitk.GetArrayFromImage(image)
    functions = [remove_all_but_largest_component_from_segmentation] * len(steps)
    expected = apply_postprocessing(outputs["raw"], functions, [{"labels_or_regions": s} for s in steps])
    assert np.array_equal(outputs["applied"], expected)
    # the workflow's post-processed predictions: the same function on its own predictions
    for experiment in ("dropout", "dropout_ct"):
        for path in (results / f"experiments/{experiment}/predictions_postprocessed").glob("case_*.nrrd"):
            raw = sitk.GetArrayFromImage(sitk.ReadImage(str(path.parent.parent / "predictions" / path.name)))
            expected = apply_postprocessing(raw, functions, [{"labels_or_regions": s} for s in steps])
            assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), expected), path


@pytest.mark.slow
def test_the_default_device_is_the_workflows_and_a_missing_gpu_is_said_before_the_registration(finished_run, tmp_path):
    """Without --device the command predicts where the workflow does (nnunet.device: cuda); on a machine without
    CUDA that is one line naming --device cpu, said at once (nothing registered, nothing written)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    results = finished_run / "results"
    ct, mr = _images(results, _test_case(results))
    out = tmp_path / "labels.nrrd"
    result = hanseg("--ct", ct, "--mr", mr, "--model", _model(results, "ct_mr"), "--out", out, "--device", "cuda")
    _one_error_line(result, "torch.cuda.is_available() is False", "--device cpu")
    assert not list(tmp_path.iterdir())
    assert "registration" not in result.stderr  # no phase ran
    assert defaults.NNUNET_DEVICE == "cuda"  # so the same happens without --device


def _write_like(array: np.ndarray, reference: sitk.Image, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    sitk.WriteImage(image, str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["ct not 3D", "mr not 3D", "ct without a head", "mr elsewhere", "mr missing", "mr for a ct model"]
)
def test_bad_input_is_one_line_naming_the_file(run_with_a_second_experiment, tmp_path, kind):
    results = run_with_a_second_experiment["workdir"] / "results"  # the finished run with a CT-only model too
    case = _test_case(results)
    ct, mr = _images(results, case)
    model = _model(results, "ct" if kind == "mr for a ct model" else "ct_mr")
    ct_image = sitk.ReadImage(str(ct))
    if kind == "ct not 3D":
        ct = tmp_path / "ct2d.nrrd"
        sitk.WriteImage(ct_image[:, :, 10], str(ct))
    elif kind == "mr not 3D":
        mr_image = sitk.ReadImage(str(mr))
        mr = tmp_path / "mr2d.nrrd"
        sitk.WriteImage(mr_image[:, :, 5], str(mr))
    elif kind == "ct without a head":
        ct = _write_like(np.full(ct_image.GetSize()[::-1], -1000, np.int16), ct_image, tmp_path / "air.nrrd")
    elif kind == "mr elsewhere":
        # An MR of something else: a thin bright rod (3 cm across) in air, nothing that overlaps the CT's head.
        mr_image = sitk.ReadImage(str(mr))
        array = np.zeros(mr_image.GetSize()[::-1], np.int16)
        array[:, 28:36, 28:36] = 800
        mr = _write_like(array, mr_image, tmp_path / "m.nrrd")
    args = ["--ct", ct, "--model", model, "--out", tmp_path / "out.nrrd"]
    if kind != "mr missing":
        args += ["--mr", mr]
    result = hanseg(*args)
    fragments = {
        "ct not 3D": [str(ct), "2D image, expected 3D"],
        "mr not 3D": [str(mr), "2D image, expected 3D"],
        "ct without a head": [str(ct), "no head in this CT"],
        "mr elsewhere": [str(mr), "cannot register this MR onto the CT"],
        "mr missing": [str(model), "pass --mr"],
        "mr for a ct model": [str(model), "does not use an MR"],
    }[kind]
    _one_error_line(result, *fragments)
    assert not any(tmp_path.glob("out*")), "nothing may be left behind"


# ---- the model folder, checked before anything slow (no trained model needed) ------------------------------------


def test_a_model_folder_gives_its_folds_channels_and_needs(tmp_path):
    model = read_model(model_folder(tmp_path / "a", ["CT", "MR"], ("3", "0", "1")))
    assert model.folds == ["0", "1", "3"] and model.needs_mr and model.name == "x"
    assert read_model(model.folder, ["1"]).folds == ["1"]
    check_inputs(model, mr_given=True)
    ct_only = read_model(model_folder(tmp_path / "b", ["CT"]))
    assert not ct_only.needs_mr and read_model(model_folder(tmp_path / "c", ["CT", "FOV"])).needs_mr
    check_inputs(ct_only, mr_given=False)


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("no folder", "no such folder"),
        ("no checkpoint", "no checkpoint (fold_<f>/checkpoint_final.pth)"),
        ("fold not trained", "no checkpoint_final.pth for fold(s) 4"),
        ("no record", f"{MODEL_RECORD}: no such file"),
        ("record without grid", "lacks target_spacing"),
        ("other channels in dataset.json", "do not match the record's channels"),
        ("no plans", "plans.json: no such file"),
    ],
)
def test_a_broken_model_folder_is_one_error_naming_it(tmp_path, breakage, message):
    folder = model_folder(tmp_path, ["CT", "MR"])
    folds = None
    if breakage == "no folder":
        folder = tmp_path / "missing"
    elif breakage == "no checkpoint":
        (folder / "fold_all/checkpoint_final.pth").unlink()
    elif breakage == "fold not trained":
        folds = ["4"]
    elif breakage == "no record":
        (folder / MODEL_RECORD).unlink()
    elif breakage == "record without grid":
        record = json.loads((folder / MODEL_RECORD).read_text())
        del record["target_spacing"]
        (folder / MODEL_RECORD).write_text(json.dumps(record))
    elif breakage == "other channels in dataset.json":
        (folder / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}}))
    elif breakage == "no plans":
        (folder / "plans.json").unlink()
    with pytest.raises(ModelError) as error:
        read_model(folder, folds)
    assert message in str(error.value) and str(folder) in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_the_inputs_must_fit_the_models_channels(tmp_path):
    with_mr = read_model(model_folder(tmp_path / "a", ["CT", "MR"]))
    with pytest.raises(ModelError, match="needs the case's T1 MR: pass --mr"):
        check_inputs(with_mr, mr_given=False)
    ct_only = read_model(model_folder(tmp_path / "b", ["CT"]))
    with pytest.raises(ModelError, match="does not use an MR"):
        check_inputs(ct_only, mr_given=True)


@pytest.mark.slow
def test_evaluation_in_the_original_space_scores_the_segment_rules_label_maps(finished_run, tmp_path, segmented):
    """evaluation.space: original scores the segment rule's label maps, registering and predicting nothing again."""
    workdir = tmp_path / "run"
    shutil.copytree(finished_run, workdir, symlinks=True)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["evaluation"] = {"space": "original"}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    case = segmented["case"]
    target = f"results/experiments/ct_mr/evaluation/cases/{case}.tsv"
    result = snakemake_in(workdir, "--cores", "2", target)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "rule evaluate:" in log
    for rule in ("register_mr", "resample", "nnunet_predict", "nnunet_train", "segment"):
        assert f"rule {rule}:" not in log, rule
    table = pd.read_csv(workdir / target, sep="\t").set_index("organ")
    results = workdir / "results"
    expected = pd.DataFrame(
        evaluate_files(
            results / f"data/HaN-Seg/set_1/{case}",
            results / f"experiments/ct_mr/segmentations/{case}.nrrd",
            results / f"cases/{case}/registration/fov_mask.nrrd",
            case=case,
            resolve_overlaps=True,
        )
    ).set_index("organ")
    np.testing.assert_allclose(table["dc"], expected["dc"])


@pytest.mark.slow
def test_probabilities_in_place_equal_nnunets_own(finished_run):
    """The bounded-memory softmax and argmax over nnU-Net's logits give nnU-Net's own labels and probabilities."""
    from hanseg.nnunet.channels import read_channels
    from hanseg.nnunet.predict import Predictor

    results = finished_run / "results"
    case = _test_case(results)
    resampled = results / f"cases/{case}/resampled"
    channels = read_channels(["CT", "MR"], {"ct": resampled / "ct.nrrd", "mr": resampled / "mr.nrrd"})
    predictor = Predictor(_model(results, "ct_mr"), ["all"], device="cpu", threads=2)
    labels, probabilities = predictor.predict(channels, probabilities=True)
    data = np.stack([sitk.GetArrayViewFromImage(image).astype(np.float32) for image in channels])
    spacing = {"spacing": list(channels[0].GetSpacing())[::-1]}
    expected_labels, expected = predictor.predictor.predict_single_npy_array(data, spacing, None, None, True)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels), expected_labels)
    assert probabilities.shape == expected.shape == (31, *expected_labels.shape)
    np.testing.assert_allclose(probabilities.astype(np.float32), expected, atol=1e-3)  # half precision
    # Labels alone (the nnunet_predict rule): the argmax of the logits slab by slab, nnU-Net's own labels.
    labels_only, none = predictor.predict(channels)
    assert none is None
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels_only), expected_labels)
    own = predictor.predictor.predict_single_npy_array(data, spacing, None, None, False)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels_only), own)


def test_the_models_elastix_parameters_come_from_its_record_or_the_package(tmp_path):
    from hanseg.core.defaults import DATA_DIR
    from hanseg.jobs.segment import elastix_parameter_files

    folder = model_folder(tmp_path / "a", ["CT", "MR"])
    record = json.loads((folder / MODEL_RECORD).read_text())
    names = ["hanseg:elastix/rigid.txt", "hanseg:elastix/bspline.txt"]
    record["registration"] = {"parameter_files": names, "initialisation": "head_search"}
    record["registration"]["parameters"] = {names[0]: '(Transform "EulerTransform")\n'}
    (folder / MODEL_RECORD).write_text(json.dumps(record))
    rigid, bspline = elastix_parameter_files(read_model(folder), tmp_path / "params")
    assert rigid == tmp_path / "params/rigid.txt" and rigid.read_text() == '(Transform "EulerTransform")\n'
    assert bspline == DATA_DIR / "elastix/bspline.txt" and bspline.is_file()  # a record that names it only
    record["registration"]["parameter_files"].append("mine.txt")  # neither its text nor one of the workflow's
    (folder / MODEL_RECORD).write_text(json.dumps(record))
    with pytest.raises(InputError, match="parameter file 'mine.txt' refused"):
        read_model(folder)
