"""Real elastix registration on phantoms with a known MR-to-CT transform."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core.images import check_axial, clip_intensity
from hanseg.core.landmarks import read_landmarks
from hanseg.dataset.phantom import PhantomOptions, generate
from hanseg.jobs.registration import RegistrationFiles, write_registration
from hanseg.registration.elastix import METRIC_HU_WINDOW, ct_for_metric, mutual_information
from hanseg.registration.errors import RegistrationError
from hanseg.registration.initialisation import initial_translation
from hanseg.registration.mr_to_ct import SCRATCH_PREFIX, register
from tests.support import PAPER_PARAMETER_FILES, PARAMETER_FILES

#: Fine enough for a sub-2-mm TRE (CT 1.9 x 1.9 x 3.1 mm, MR 1.5 x 1.5 x 5.3 mm), small enough for seconds.
TRE_PHANTOM = PhantomOptions(cases=2, seed=2, ct_shape=(160, 160, 100))


@pytest.fixture(scope="module")
def tre_phantom(tmp_path_factory):
    out = tmp_path_factory.mktemp("tre_phantom")
    generate(out, TRE_PHANTOM)
    return out


def _case(root, case):
    folder = root / "HaN-Seg/set_1" / case
    ct = clip_intensity(sitk.ReadImage(str(folder / f"{case}_IMG_CT.nrrd")), -1000, 3000)
    mr = sitk.ReadImage(str(folder / f"{case}_IMG_MR_T1.nrrd"))
    landmarks = {
        "landmarks_ct": read_landmarks(root / "truth" / case / "landmarks_ct.csv"),
        "landmarks_mr": read_landmarks(root / "truth" / case / "landmarks_mr.csv"),
    }
    return ct, mr, landmarks


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "parameter_files"),
    # case_01: no z-overlap in the headers, the default (rigid) stage; case_02: the paper's rigid + B-spline chain.
    [("case_01", PARAMETER_FILES), ("case_02", PAPER_PARAMETER_FILES)],
    ids=["case_01-rigid", "case_02-rigid+bspline"],
)
def test_tre_meets_the_paper_and_tg132(tre_phantom, tmp_path, case, parameter_files, monkeypatch):
    ct, mr, landmarks = _case(tre_phantom, case)
    result = register(ct, mr, parameter_files, tmp_path, threads=2, case=case, **landmarks)
    tre = result.report["tre_mm"]
    assert tre["mean"] <= 1.5 and tre["max"] <= 3.5, tre
    assert len(tre["per_landmark"]) == 6
    assert result.report["mutual_information"]["final"] > result.report["mutual_information"]["initial"]
    stages = len(parameter_files)
    assert len(result.transform_files) == stages + 1
    files = RegistrationFiles.in_folder(tmp_path, stages=stages)
    write_registration(result, files, ct, title=case)
    last = f"TransformParameters.{stages - 1}.txt"
    for name in ("mr_in_ct.nrrd", "fov_mask.nrrd", "registration.json", "qc.png", "TransformParameters.init.txt", last):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "registration.json").read_text())["tre_mm"]["mean"] == tre["mean"]
    mr_in_ct = sitk.ReadImage(str(tmp_path / "mr_in_ct.nrrd"))
    assert mr_in_ct.GetSize() == ct.GetSize() and mr_in_ct.GetOrigin() == ct.GetOrigin()
    # The chain's files say what they are, so transformix can replay them from that folder.
    assert '"TranslationTransform"' in (tmp_path / "TransformParameters.init.txt").read_text()
    assert "TransformParameters.init.txt" in (tmp_path / "TransformParameters.0.txt").read_text()
    # elastix saw only the CT box that the MR covers; replayed, the files still give the result on the whole CT grid.
    assert result.report["crop_box"]["size"] != list(ct.GetSize())
    replayed = _transformix_from_files(mr, tmp_path, last, monkeypatch)
    assert replayed.GetSize() == ct.GetSize() and np.allclose(replayed.GetOrigin(), ct.GetOrigin(), atol=1e-4)
    inside = sitk.GetArrayFromImage(sitk.BinaryErode(result.fov_mask, [2, 2, 1])) > 0
    difference = np.abs(sitk.GetArrayFromImage(replayed) - sitk.GetArrayFromImage(result.mr_in_ct))[inside]
    assert difference.mean() < 0.01 * sitk.GetArrayFromImage(result.mr_in_ct)[inside].mean(), difference.mean()
    if stages == 1:  # nothing computed for a stage that is not asked for
        assert "bspline_stage" not in result.report and "tre_mm_rigid_only" not in result.report
        return
    # The B-spline stage is judged against the rigid stage alone; rejected, the result is the rigid one.
    stage = result.report["bspline_stage"]
    assert set(stage) >= {"kept", "ngf_rigid_only", "ngf_with_bspline"}
    if not stage["kept"]:
        assert tre["mean"] == result.report["tre_mm_rigid_only"]["mean"]


def _transformix_from_files(mr, folder, last, monkeypatch):
    """The MR through the written chain, as a user replays it: transformix from inside the folder."""
    import itk

    from hanseg.registration.elastix import to_itk

    monkeypatch.chdir(folder)
    chain = itk.ParameterObject.New()
    chain.ReadParameterFile(last)
    transformix = itk.TransformixFilter.New(to_itk(mr))
    transformix.SetTransformParameterObject(chain)
    transformix.SetLogToConsole(False)
    transformix.UpdateLargestPossibleRegion()
    image = transformix.GetOutput()
    out = sitk.GetImageFromArray(itk.array_from_image(image))
    out.SetOrigin(tuple(image.GetOrigin()))
    out.SetSpacing(tuple(image.GetSpacing()))
    return out


def test_fov_mask_matches_the_truth(tre_phantom, tmp_path):
    """The registered field of view agrees with the one the ground truth gives (up to the few-mm deformation)."""
    ct, mr, landmarks = _case(tre_phantom, "case_02")
    # What a registration killed mid-way leaves (its clean-up never ran): the next one in the folder removes it.
    stale = tmp_path / f"{SCRATCH_PREFIX}killed/TransformParameters.init.txt"
    stale.parent.mkdir()
    stale.write_text('(Transform "TranslationTransform")\n')
    result = register(ct, mr, PARAMETER_FILES, tmp_path, threads=2, **landmarks)
    assert not list(tmp_path.glob(f"{SCRATCH_PREFIX}*"))
    truth = sitk.ReadTransform(str(tre_phantom / "truth/case_02/mr_to_ct.tfm"))
    rigid = sitk.Euler3DTransform(sitk.CompositeTransform(truth).GetNthTransform(0))
    ones = sitk.Cast(mr * 0 + 1, sitk.sitkUInt8)
    expected = sitk.GetArrayFromImage(sitk.Resample(ones, ct, rigid.GetInverse(), sitk.sitkNearestNeighbor, 0)) > 0
    got = sitk.GetArrayFromImage(result.fov_mask) > 0
    dice = 2 * (expected & got).sum() / (expected.sum() + got.sum())
    assert dice > 0.97, dice
    assert 0.2 < got.mean() < 0.8  # the MR covers part of the CT, not all of it


def test_initialisation_finds_the_head_without_overlapping_headers(tre_phantom):
    ct, mr, landmarks = _case(tre_phantom, "case_01")
    init = initial_translation(ct, mr)
    ct_points = np.array(list(landmarks["landmarks_ct"].values()))
    mr_points = np.array(list(landmarks["landmarks_mr"].values()))
    true_offset = (mr_points - ct_points).mean(axis=0)  # the rigid part at the landmarks, roughly
    assert np.linalg.norm(init.offset_mm - true_offset) < 25.0, (init.offset_mm, true_offset)
    assert abs(true_offset[2]) > 300  # the headers really were far apart


def test_empty_mr_fails_naming_the_case(tre_phantom, tmp_path):
    ct, mr, _ = _case(tre_phantom, "case_02")
    with pytest.raises(RegistrationError, match=r"case_02: the MR is empty"):
        register(ct, mr * 0, PARAMETER_FILES, tmp_path, case="case_02")


def test_mr_that_cannot_be_placed_fails_naming_the_case(tre_phantom, tmp_path):
    ct, mr, _ = _case(tre_phantom, "case_02")
    # A bright slab filling the MR's whole field of view: nothing like a head, no translation fits it.
    array = np.zeros(sitk.GetArrayViewFromImage(mr).shape, np.float32)
    array[:, 5:-5, 5:-5] = 500
    fake = sitk.GetImageFromArray(array)
    fake.CopyInformation(mr)
    with pytest.raises(RegistrationError, match=r"case_02: cannot place the MR's head in the CT"):
        register(ct, fake, PARAMETER_FILES, tmp_path, case="case_02")


def test_non_axial_ct_fails_naming_the_case(tre_phantom, tmp_path):
    ct, mr, _ = _case(tre_phantom, "case_02")
    angle = np.deg2rad(20)
    ct.SetDirection((np.cos(angle), -np.sin(angle), 0, np.sin(angle), np.cos(angle), 0, 0, 0, 1))
    with pytest.raises(ValueError, match=r"case_02: CT: direction matrix .* not axial"):
        register(ct, mr, PARAMETER_FILES, tmp_path, case="case_02")


def test_check_axial_accepts_flipped_axes():
    image = sitk.Image(4, 4, 4, sitk.sitkUInt8)
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    check_axial(image, "flipped")


def test_mutual_information_sees_dependence():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20000)
    assert mutual_information(a, -2 * a + 1) > 1.0
    assert mutual_information(a, rng.permutation(a)) < 0.05


def test_the_metric_sees_the_patient_in_a_soft_tissue_window_without_couch_or_mask():
    """A head (40 HU, a 1500 HU skull) on a couch (200 HU), under a thermoplastic mask shell (110 HU, 6 mm off the
    skin): elastix's CT keeps the head, its skin edge and its bone (clipped to the window), and sees air for the
    couch and the mask."""
    spacing = np.array([2.0, 2.0, 3.0])
    axes = (np.arange(n) * s for n, s in zip((40, 100, 100), spacing[::-1], strict=True))
    z, y, x = np.meshgrid(*axes, indexing="ij")
    r = np.sqrt(((x - 100) / 60) ** 2 + ((y - 95) / 70) ** 2 + ((z - 60) / 50) ** 2)
    hu = np.full(r.shape, -1000.0, np.float32)
    head = r <= 1.0
    hu[head] = 40.0
    hu[(r > 0.85) & (r < 0.92)] = 1500.0
    mask_shell = (r > 1.0 + 6 / 60) & (r < 1.0 + 7.5 / 60) & (y < 95)  # over the face only, like the real masks
    hu[mask_shell] = 110.0
    couch = (y >= 172) & (y < 182)
    hu[couch] = 200.0
    ct = sitk.GetImageFromArray(hu)
    ct.SetSpacing(spacing.tolist())
    seen = sitk.GetArrayFromImage(ct_for_metric(ct))
    air, top = METRIC_HU_WINDOW
    assert seen.min() == air and seen.max() == top
    assert (seen[couch] == air).all() and (seen[mask_shell] == air).all()
    assert (seen[head & (hu == 40.0)] == 40.0).all()  # every head voxel, the skin's included
    assert (seen[hu == 1500.0] == top).all()
    assert (seen[~head & ~couch & ~mask_shell] == air).all()
