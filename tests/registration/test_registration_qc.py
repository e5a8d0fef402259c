"""Registration QC: pass, warn and fail on a small realistic pair, thresholds from the config, the CLI's exit status."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from hanseg import cli
from hanseg.core.defaults import default
from hanseg.dataset.phantom_family import RealisticOptions, generate
from hanseg.jobs.registration import RegistrationFiles, write_registration
from hanseg.registration import qc_calibration, qc_measures
from hanseg.registration.errors import RegistrationQCError
from hanseg.registration.initialisation import initial_translation
from hanseg.registration.mr_to_ct import register
from hanseg.registration.qc_verdict import check_qc
from tests.support import PARAMETER_FILES

#: Small pairs of the family (3.8 mm CT pixels): the first is registered (about 30-60 s on two cores).
PAIRS = RealisticOptions(cases=4, seed=11, ct_shape=(128, 128, 64))


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("qc_pairs")
    generate(root, PAIRS)
    return root


@pytest.fixture(scope="module")
def registered(family):
    ct, mr, landmarks_ct, landmarks_mr = qc_calibration.read_pair(family, "case_01")
    work = family / "registration"
    result = register(
        ct, mr, PARAMETER_FILES, work, threads=2, case="case_01", landmarks_ct=landmarks_ct, landmarks_mr=landmarks_mr
    )
    centre = np.mean([landmarks_ct[name] for name in sorted(landmarks_ct)], axis=0)
    return ct, result, work, centre


def _status(ct, result, kind, size, centre):
    moved = qc_calibration.perturbation(kind, size, centre, np.random.default_rng(0))
    return qc_measures.assess(qc_measures.qc_images(ct, result.mr_in_ct, result.fov_mask, moved))


def test_good_registration_does_not_fail(registered):
    _, result, work, _ = registered
    qc = result.report["qc"]
    assert qc["status"] in ("pass", "warn"), qc
    assert set(qc["checks"]) == set(qc_measures.CHECKS) and qc["measure"] in qc_measures.CHECKS
    assert qc["thresholds"] == qc_measures.default_thresholds()[qc["measure"]]
    assert qc["checks"][qc["measure"]]["status"] == qc["status"]
    assert result.report["tre_mm"]["max"] <= 5.0 and "tre_mm_rigid_only" not in result.report  # rigid only
    # elastix's files reach their final names only complete: no scratch folder is left behind.
    assert sorted(p.name for p in work.iterdir()) == [
        "TransformParameters.0.txt",
        "TransformParameters.init.txt",
        "elastix.log",
    ]
    assert "TransformParameters.init.txt" in (work / "TransformParameters.0.txt").read_text()


def test_pass_warn_fail_on_the_pair(registered):
    ct, result, _, centre = registered
    values = qc_measures.check_values(qc_measures.qc_images(ct, result.mr_in_ct, result.fov_mask))
    lenient = {name: {"warn": 2 * abs(v) + 50, "fail": 4 * abs(v) + 100} for name, v in values.items()}
    assert qc_measures.decide(values, lenient)["status"] == "pass"
    # The realignment just above its warn threshold: warn, decided by that check.
    strict = {**lenient, "realignment_mm": {"warn": values["realignment_mm"] * 0.9, "fail": 50.0}}
    qc = qc_measures.decide(values, strict)
    assert (qc["status"], qc["measure"]) == ("warn", "realignment_mm")
    assert _status(ct, result, "offset", 20.0, centre)["status"] == "fail"  # the defaults


def test_results_off_by_5_mm_or_5_degrees_are_flagged(registered):
    """By the realignment check alone (the others can only add to a verdict)."""
    ct, result, _, centre = registered
    warn = qc_measures.default_thresholds()["realignment_mm"]["warn"]
    for kind, size in (("offset", 5.0), ("rotation", 5.0), ("rotation", 10.0)):
        moved = qc_calibration.perturbation(kind, size, centre, np.random.default_rng(0))
        value = qc_measures.realignment_mm(qc_measures.qc_images(ct, result.mr_in_ct, result.fov_mask, moved))
        assert value >= warn, (kind, size, value)


def test_a_mirrored_mr_is_flagged(registered):
    """The registered MR mirrored about the head's mid-plane (as a left-right header error registers): the mirror
    check flags it, and the good result's own value lies on the other side of the warn threshold."""
    ct, result, _, _ = registered
    q = qc_measures.qc_images(ct, result.mr_in_ct, result.fov_mask)
    good = qc_measures.mirror_nmi_gain(q)
    flipped = qc_measures.QCImages(q.ct, qc_measures.mirrored_about_head(q), q.fov, q.spacing_mm)
    bad = qc_measures.mirror_nmi_gain(flipped)
    warn = qc_measures.default_thresholds()["mirror_nmi_gain"]["warn"]
    assert good < warn <= bad, (good, bad)


def test_fail_is_one_line_naming_case_measure_value_threshold_and_picture(registered, tmp_path):
    _, result, _, _ = registered
    report = copy.deepcopy(result.report)
    report["qc"] = {**report["qc"], "status": "fail", "value": 7.5}
    with pytest.raises(RegistrationQCError) as error:
        check_qc(report, "case_07", tmp_path / "qc.png")
    message = str(error.value)
    assert "\n" not in message
    for part in ("case_07", report["qc"]["measure"], "7.5", str(report["qc"]["thresholds"]["fail"]), "qc.png"):
        assert part in message, (part, message)
    assert check_qc(result.report, "case_01", tmp_path / "qc.png") == result.report["qc"]["status"]
    assert check_qc({}, "old report", tmp_path / "qc.png") == "pass"


@pytest.mark.parametrize(("status", "code"), [("pass", 0), ("warn", 0), ("fail", 1)])
def test_cli_exits_0_on_pass_and_warn_1_on_fail(registered, tmp_path, monkeypatch, capsys, status, code):
    ct, result, _, _ = registered
    faked = copy.copy(result)
    faked.report = copy.deepcopy(result.report)
    faked.report["qc"]["status"] = status
    monkeypatch.setattr("hanseg.registration.mr_to_ct.register", lambda *args, **kwargs: faked)
    monkeypatch.setattr("hanseg.core.images.read_image", lambda path: ct)
    out = tmp_path / "out"
    argv = ["register", "--ct", "ct.nrrd", "--mr", "mr.nrrd", "--out-dir", str(out), "--case", "case_01"]
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert json.loads((out / "registration.json").read_text())["qc"]["status"] == status
    assert (out / "qc.png").is_file()
    if status == "warn":
        assert "warning" in err and "case_01" in err
    if status == "fail":
        lines = [line for line in err.splitlines() if "error" in line]
        assert len(lines) == 1 and "case_01" in lines[0] and "qc.png" in lines[0], err


def test_thresholds_come_from_the_config_and_must_be_ordered():
    assert qc_measures.default_thresholds() == {
        name: {"warn": default(f"registration.qc.{name}.warn"), "fail": default(f"registration.qc.{name}.fail")}
        for name in qc_measures.CHECKS
    }
    with pytest.raises(ValueError, match="realignment_mm: the warn threshold"):
        qc_measures.check_thresholds({"realignment_mm": {"warn": 5.0, "fail": 2.0}})
    with pytest.raises(ValueError, match="unknown checks"):
        qc_measures.check_thresholds({"skin": {"warn": 1.0, "fail": 2.0}})
    # A check not given keeps its default.
    assert qc_measures.check_thresholds({})["skin_distance_mm"] == qc_measures.default_thresholds()["skin_distance_mm"]
    assert qc_measures.classify(float("nan"), {"warn": 2.0, "fail": 4.0}, higher_is_better=False) == "fail"


def test_write_registration_keeps_the_qc_block(registered, tmp_path):
    ct, result, _, _ = registered
    files = RegistrationFiles.in_folder(tmp_path, stages=len(result.transform_files) - 1)
    write_registration(result, files, ct, title="case_01")
    assert json.loads((tmp_path / "registration.json").read_text())["qc"] == result.report["qc"]


def test_the_initialisation_places_the_head_not_the_couch_and_mask(family):
    """The CT's couch and thermoplastic mask touch the patient; the initial translation must follow the head. With them
    in the CT's head mask it was 14.4 mm off on case_04 (of these pairs; up to 45 mm on the 256 x 256 family), now
    at most 9.1 mm (the rest is the MR's partial head, the tilt and the 4 mm search grid)."""
    for case in ("case_01", "case_02", "case_03", "case_04"):
        ct, mr, landmarks_ct, landmarks_mr = qc_calibration.read_pair(family, case)
        offset = initial_translation(ct, mr).offset_mm
        error = np.mean(
            [np.asarray(landmarks_ct[n]) + offset - landmarks_mr[n] for n in set(landmarks_ct) & set(landmarks_mr)],
            axis=0,
        )
        assert np.linalg.norm(error) < 12.0, (case, error.round(1))
