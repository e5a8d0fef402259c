from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.preprocessing.resampling import ResampledFiles, build_label_map, resample_case, resample_organ, target_grid

SOURCE_SPACING = (0.9766, 0.9766, 2.0)  # a 512 x 512 CT over 500 mm
TARGET = (0.5, 0.5, 2.0)


def _image(array, spacing=SOURCE_SPACING, origin=(-120.3, -97.1, -701.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _ellipsoid(shape_zyx, centre_mm, radii_mm, spacing=SOURCE_SPACING, origin=(-120.3, -97.1, -701.0)):
    z, y, x = np.ogrid[: shape_zyx[0], : shape_zyx[1], : shape_zyx[2]]
    px, py, pz = (origin[0] + x * spacing[0], origin[1] + y * spacing[1], origin[2] + z * spacing[2])
    (cx, cy, cz), (rx, ry, rz) = centre_mm, radii_mm
    return (((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2 + ((pz - cz) / rz) ** 2 <= 1).astype(np.uint8)


def _centroid_mm(image):
    indices = np.argwhere(sitk.GetArrayViewFromImage(image) > 0)[:, ::-1].mean(axis=0)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(indices.tolist()))


def _volume(image):
    return float(sitk.GetArrayViewFromImage(image).astype(bool).sum() * np.prod(image.GetSpacing()))


@pytest.fixture
def organs_case(tmp_path):
    shape = (40, 160, 160)  # the body fills only part of it, as in a real CT
    organs = {
        "Parotid_L": ((-60.0, -50.0, -660.0), (12.0, 18.0, 20.0)),
        "Brainstem": ((-75.0, -55.0, -665.0), (11.0, 11.0, 25.0)),
        "Cochlea_L": ((-90.0, -80.0, -670.0), (1.6, 1.6, 2.0)),  # a few source voxels
        "OpticChiasm": ((-100.0, -60.0, -650.0), (6.0, 2.0, 1.4)),  # thinner than a slice
    }
    paths = {}
    for organ, (centre, radii) in organs.items():
        path = tmp_path / f"case_01_OAR_{organ}.seg.nrrd"
        sitk.WriteImage(_image(_ellipsoid(shape, centre, radii)), str(path))
        paths[organ] = path
    ct_array = np.full(shape, -1000, np.int16)
    ct_array[5:35, 10:90, 10:90] = 40
    ct_array[20, 50, 50] = 3000
    return _image(ct_array), paths


def test_target_grid_keeps_the_physical_extent():
    ct = _image(np.zeros((150, 512, 512), np.int16))
    reference = target_grid(ct, TARGET)
    assert reference.GetSize() == (1000, 1000, 150)
    for corner in ([-0.5, -0.5, -0.5], [511.5, 511.5, 149.5]):
        physical = ct.TransformContinuousIndexToPhysicalPoint(corner)
        mapped = reference.TransformPhysicalPointToContinuousIndex(physical)
        assert np.allclose(
            mapped, [-0.5 if c < 0 else s - 0.5 for c, s in zip(corner, reference.GetSize(), strict=True)], atol=0.05
        )


def test_organs_keep_position_volume_and_tiny_ones_survive(organs_case, tmp_path):
    ct, paths = organs_case
    resample_case(ct, None, None, paths, ResampledFiles.in_folder(tmp_path / "out"), spacing_xyz=TARGET)
    half_voxel = np.asarray(TARGET) / 2
    for organ, path in paths.items():
        before = sitk.ReadImage(str(path))
        after = sitk.ReadImage(str(tmp_path / "out/organs" / f"{organ}.nrrd"))
        assert after.GetSpacing() == TARGET
        assert sitk.GetArrayViewFromImage(after).sum() > 0, f"{organ} lost"
        shift = np.abs(_centroid_mm(after) - _centroid_mm(before))
        assert np.all(shift < half_voxel), (organ, shift)
        if organ not in ("Cochlea_L", "OpticChiasm"):  # the tiny ones are kept, not volume-exact
            assert _volume(after) == pytest.approx(_volume(before), rel=0.04), organ


def test_label_map_round_trips_where_organs_do_not_overlap(organs_case, tmp_path):
    ct, paths = organs_case
    resample_case(ct, None, None, paths, ResampledFiles.in_folder(tmp_path), spacing_xyz=TARGET)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "labels.nrrd")))
    overlapping = {row.split("\t")[0] for row in (tmp_path / "overlaps.tsv").read_text().splitlines()[1:]} | {
        row.split("\t")[1] for row in (tmp_path / "overlaps.tsv").read_text().splitlines()[1:]
    }
    assert overlapping == {"Parotid_L", "Brainstem"}  # those two were built to overlap
    for organ in paths:
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "organs" / f"{organ}.nrrd"))) > 0
        if organ not in overlapping:
            assert np.array_equal(labels == dataset_layout.LABEL_IDS[organ], mask), organ
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, *dataset_layout.LABEL_IDS.values()}
    ct_out = sitk.ReadImage(str(tmp_path / "ct.nrrd"))
    array = sitk.GetArrayViewFromImage(ct_out)
    assert array.min() >= -1000 and array.max() <= 3000  # clipped again after cubic interpolation


def test_overlap_counts_and_the_smaller_organ_wins():
    from hanseg.preprocessing.resampling import OrganOnGrid

    big = OrganOnGrid("Parotid_L", np.array([0, 0, 0]), np.ones((4, 10, 10), bool))  # 400 voxels
    small = OrganOnGrid("Glnd_Submand_L", np.array([6, 7, 1]), np.ones((2, 5, 5), bool))  # 50 voxels
    labels, overlaps = build_label_map([big, small], (6, 12, 12))
    # overlap: z 1..2 (2), y 7..9 (3), x 6..9 (4) = 24 voxels
    assert overlaps == [
        {"organ_a": "Parotid_L", "organ_b": "Glnd_Submand_L", "voxels": 24, "label_map_keeps": "Glnd_Submand_L"}
    ]
    assert (labels == dataset_layout.LABEL_IDS["Glnd_Submand_L"]).sum() == 50
    assert (labels == dataset_layout.LABEL_IDS["Parotid_L"]).sum() == 400 - 24


def test_fov_mask_resampled_on_a_constructed_case(tmp_path):
    ct = _image(np.zeros((20, 64, 64), np.int16))
    fov = np.zeros((20, 64, 64), np.uint8)
    fov[5:15, 10:40, 20:50] = 1
    resample_case(ct, None, _image(fov), {}, ResampledFiles.in_folder(tmp_path), spacing_xyz=TARGET)
    out = sitk.ReadImage(str(tmp_path / "fov_mask.nrrd"))
    inside = np.argwhere(sitk.GetArrayViewFromImage(out) > 0)
    lo = np.asarray(out.TransformIndexToPhysicalPoint([int(v) for v in inside.min(axis=0)[::-1]]))
    hi = np.asarray(out.TransformIndexToPhysicalPoint([int(v) for v in inside.max(axis=0)[::-1]]))
    source = _image(fov)
    expected_lo = np.asarray(source.TransformContinuousIndexToPhysicalPoint([19.5, 9.5, 4.5]))
    expected_hi = np.asarray(source.TransformContinuousIndexToPhysicalPoint([49.5, 39.5, 14.5]))
    assert np.all(np.abs(lo - expected_lo) <= np.asarray(TARGET)) and np.all(
        np.abs(hi - expected_hi) <= np.asarray(TARGET)
    )


def test_body_crop_keeps_every_organ_and_shrinks_the_grid(organs_case, tmp_path):
    ct, paths = organs_case
    full = resample_case(ct, None, None, paths, ResampledFiles.in_folder(tmp_path / "full"), spacing_xyz=TARGET)
    cropped = resample_case(
        ct, None, None, paths, ResampledFiles.in_folder(tmp_path / "crop"), spacing_xyz=TARGET, body_crop=True
    )
    assert np.prod(cropped["size"]) < np.prod(full["size"])
    assert cropped["organ_voxels"] == full["organ_voxels"]


def test_non_axial_mask_fails_naming_case_and_file(organs_case, tmp_path):
    ct, paths = organs_case
    mask = sitk.ReadImage(str(paths["Brainstem"]))
    mask.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, 1))
    sitk.WriteImage(mask, str(paths["Brainstem"]))
    with pytest.raises(ValueError, match=r"case_01: case_01_OAR_Brainstem.seg.nrrd: direction matrix"):
        resample_case(ct, None, None, paths, ResampledFiles.in_folder(tmp_path), spacing_xyz=TARGET, case="case_01")


def test_an_organ_outside_the_grid_is_dropped():
    mask = _image(np.zeros((10, 10, 10), np.uint8))
    reference = target_grid(mask, TARGET)
    assert resample_organ(mask, reference, "Lips") is None


def test_outputs_come_from_the_rules_names_or_the_folders(tmp_path):
    from snakemake.iocontainers import OutputFiles as RuleOutputs

    declared = {name: f"out/{name}.x" for name in ("ct", "labels", "organs", "overlaps", "summary", "mr", "per_case")}
    outputs = ResampledFiles.of(RuleOutputs(fromdict=declared))
    assert outputs.ct == tmp_path.joinpath("out/ct.x").relative_to(tmp_path) and outputs.fov is None  # optional
    folder = ResampledFiles.in_folder(tmp_path)
    assert (folder.labels, folder.organs, folder.fov) == (
        tmp_path / "labels.nrrd",
        tmp_path / "organs",
        tmp_path / "fov_mask.nrrd",
    )
    del declared["summary"]
    with pytest.raises(ValueError, match="no output named summary"):
        ResampledFiles.of(RuleOutputs(fromdict=declared))


def test_crop_to_content_is_the_bounding_box_and_its_margin():
    from hanseg.preprocessing.resampling import crop_to_content

    array = np.zeros((20, 30, 40), dtype=np.uint8)
    array[5:9, 2, 30:35] = 1
    array[12, 20, 31] = 1
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing((0.5, 0.6, 2.0))
    mask.SetOrigin((10.0, -4.0, 100.0))
    cropped = crop_to_content(mask, margin=3)
    assert cropped.GetSize() == (8 + 3, 19 + 3 + 2, 8 + 6)  # x 27..37, y 0..23 (clipped at 0), z 2..15
    assert cropped.GetOrigin() == mask.TransformIndexToPhysicalPoint((27, 0, 2))
    assert sitk.GetArrayViewFromImage(cropped).sum() == array.sum()
    assert crop_to_content(sitk.GetImageFromArray(np.zeros((4, 4, 4), np.uint8))) is None
