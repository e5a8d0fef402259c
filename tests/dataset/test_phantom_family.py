"""The realistic family shows what real pairs show (and the default phantom does not), with a consistent truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.landmarks import read_landmarks
from hanseg.dataset.phantom_family import (
    HEAD_HEIGHT_MM,
    RealisticOptions,
    add_metal_streaks,
    case_parameters,
    generate,
    mirrored_left_right,
)

#: Small: 3.8 mm CT pixels over the realistic 470-520 mm field of view; seconds for three pairs.
FAMILY = RealisticOptions(cases=3, seed=5, ct_shape=(128, 128, 64))


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    out = tmp_path_factory.mktemp("family")
    generate(out, FAMILY)
    return out


def _images(root, case):
    folder = dataset_layout.case_dir(root / dataset_layout.TOP_DIR, case)
    return sitk.ReadImage(str(folder / dataset_layout.ct_name(case))), sitk.ReadImage(
        str(folder / dataset_layout.mr_name(case))
    )


def _truth(root, case):
    return json.loads((root / "truth" / case / "truth.json").read_text())["parameters"]


def test_layout_and_truth_like_the_default_phantom(family):
    assert dataset_layout.list_cases(family / dataset_layout.TOP_DIR) == ["case_01", "case_02", "case_03"]
    for case in ("case_01", "case_02", "case_03"):
        folder = dataset_layout.case_dir(family / dataset_layout.TOP_DIR, case)
        assert len(list(folder.glob("*.seg.nrrd"))) >= 25
        assert (family / "truth" / case / "mr_to_ct.tfm").is_file()
    assert (family / dataset_layout.TOP_DIR / "set_1" / dataset_layout.OAR_CSV).is_file()


def test_landmarks_map_through_the_truth_and_lie_in_the_mr(family):
    for case in ("case_01", "case_02", "case_03"):
        ct_points = read_landmarks(family / "truth" / case / "landmarks_ct.csv")
        mr_points = read_landmarks(family / "truth" / case / "landmarks_mr.csv")
        assert len(ct_points) >= 4 and ct_points.keys() == mr_points.keys()
        truth = sitk.ReadTransform(str(family / "truth" / case / "mr_to_ct.tfm"))
        _, mr = _images(family, case)
        for name, p_mr in mr_points.items():
            assert np.allclose(truth.TransformPoint(p_mr.tolist()), ct_points[name], atol=1e-3)
            index = np.asarray(mr.TransformPhysicalPointToContinuousIndex(p_mr.tolist()))
            assert np.all(index > -0.5) and np.all(index < np.asarray(mr.GetSize()) - 0.5), (case, name)


def test_headers_do_not_overlap_in_a_third_of_the_pairs(family):
    for case, expect_overlap in (("case_01", False), ("case_02", True), ("case_03", True)):
        ct, mr = _images(family, case)
        ct_z = sorted(ct.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in (0, ct.GetSize()[2] - 1))
        mr_z = sorted(mr.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in (0, mr.GetSize()[2] - 1))
        overlap = mr_z[0] < ct_z[1] and ct_z[0] < mr_z[1]
        assert overlap == expect_overlap, case
        assert _truth(family, case)["headers_overlap_in_z"] == expect_overlap


def test_parameters_span_the_stated_ranges():
    """Drawn over many pairs (no images): tilt, bias, field of view, slices, set-up, metal."""
    options = RealisticOptions()
    params = [case_parameters(options, i) for i in range(1, 61)]
    tilts = [p["tilt_deg"] for p in params]
    assert max(tilts) <= 15.0 and max(tilts) > 12.0
    bias = [p["bias_amplitude"] for p in params]
    assert max(bias) <= 0.30 and max(bias) > 0.27
    fractions = [p["mr_height_fraction"] for p in params]
    assert min(fractions) >= 0.6 and max(fractions) <= 1.0 and min(fractions) < 0.65 and max(fractions) > 0.95
    assert any(p["mr_top_margin_mm"] < 0 for p in params)  # some MRs cut the vertex
    assert sum(bool(p["fillings_mm"]) for p in params) > 30
    assert sum(not p["headers_overlap_in_z"] for p in params) == 20


def test_t1_contrast_bias_and_the_ct_set_up(family):
    """Dark cortical bone and air, bright fat in T1; couch, mask and shoulders in the CT only; metal streaks."""
    ct, mr = _images(family, "case_02")
    ct_array = sitk.GetArrayFromImage(ct).astype(float)
    p = _truth(family, "case_02")

    # Shoulders: the CT's lowest slices hold a body far wider than the head.
    def width_mm(z):
        rows = np.flatnonzero((ct_array[z] > -300).any(axis=0))
        body = ct_array[z][:, rows.min() : rows.max() + 1] > -300
        columns = np.flatnonzero(body[: body.shape[0] * 3 // 4].any(axis=0))  # above the couch
        return (columns.max() - columns.min()) * ct.GetSpacing()[0]

    assert width_mm(2) > 1.6 * width_mm(int(ct_array.shape[0] * 0.8))
    # The couch: a foam-cored slab (about -950 HU, 50 mm thick) across the whole field of view behind the patient.
    couch_rows = (ct_array > -990).mean(axis=(0, 2)) > 0.95
    assert 40 < couch_rows.sum() * ct.GetSpacing()[1] < 60 and couch_rows[-int(80 / ct.GetSpacing()[1]) :].any()
    # Nothing of the set-up is in the MR: its signal behind the head is noise.
    # T1: cortical bone and sinuses darker than muscle, fat brighter than white matter; the MR's air is noise.
    mr_array = sitk.GetArrayFromImage(mr).astype(float)
    tissue = mr_array[mr_array > np.percentile(mr_array, 60)]
    assert np.percentile(tissue, 99) > 1.3 * np.median(tissue)
    assert p["bias_amplitude"] >= 0.1 and 3.0 <= p["mr_slice_mm"] <= 6.0
    height = mr.GetSize()[2] * mr.GetSpacing()[2]
    assert 0.6 * HEAD_HEIGHT_MM * 0.92 - 1 < height < HEAD_HEIGHT_MM * 1.08 + 1


def test_metal_streaks_in_the_ct():
    """Bright and dark lines radiating from the fillings, in their slices only, fading with distance."""
    p = {"fillings_mm": [[25.0, -40.0, -50.0], [-25.0, -40.0, -50.0]], "anatomy_scale": 1.0, "streaks_seed": 3}
    hu = np.full((40, 200, 200), 40.0, dtype=np.float32)
    origin, spacing = np.array([-100.0, -140.0, -90.0]), np.array([1.0, 1.0, 2.0])
    add_metal_streaks(hu, p, origin, spacing)
    metal_slice = int(round((-50.0 - origin[2]) / spacing[2]))
    plane = hu[metal_slice]
    assert (plane > 140).sum() > 200 and (plane < -60).sum() > 200  # bright and dark streaks
    assert plane[100, 100] < -100  # the dark band between the two fillings
    assert np.all(hu[: metal_slice - 5] == 40.0) and np.all(hu[metal_slice + 6 :] == 40.0)
    near, far = np.abs(plane[90:110, 60:80] - 40).mean(), np.abs(plane[180:, 180:] - 40).mean()
    assert near > 3 * far


def test_mirrored_mr_keeps_the_header():
    image = sitk.GetImageFromArray(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    image.SetOrigin((5.0, 6.0, 7.0))
    flipped = mirrored_left_right(image)
    assert flipped.GetOrigin() == image.GetOrigin()
    assert np.array_equal(sitk.GetArrayViewFromImage(flipped), sitk.GetArrayViewFromImage(image)[:, :, ::-1])
