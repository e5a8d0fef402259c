from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core.images import (
    Grid,
    GridError,
    ImageError,
    check_axial,
    check_same_grid,
    clip_ct_file,
    clip_intensity,
    image_problems,
    largest_component,
    read_image,
    write_image,
)


def _ct():
    array = np.array([[[-2048, -1000, -999], [0, 2999, 3000]], [[3001, 4095, 120], [-1024, 500, 32767]]], np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5576, 0.5576, 2.0))
    image.SetOrigin((-285.5, -207.5, -759.0))
    image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, 1))
    return image, array


def test_clip_values():
    image, array = _ct()
    clipped = sitk.GetArrayFromImage(clip_intensity(image, -1000, 3000))
    expected = np.array([[[-1000, -1000, -999], [0, 2999, 3000]], [[3000, 3000, 120], [-1000, 500, 3000]]])
    assert np.array_equal(clipped, expected)
    assert clipped.dtype == np.int16


def test_clip_file_keeps_geometry_exactly(tmp_path):
    image, _ = _ct()
    source, target = tmp_path / "ct.nrrd", tmp_path / "out" / "ct_clipped.nrrd"
    sitk.WriteImage(image, str(source), useCompression=True)
    counts = clip_ct_file(source, target, -1000, 3000)
    assert counts == {"voxels_below": 2, "voxels_above": 3, "lower": -1000, "upper": 3000}
    result = sitk.ReadImage(str(target))
    assert result.GetSpacing() == image.GetSpacing()
    assert result.GetOrigin() == image.GetOrigin()
    assert result.GetDirection() == image.GetDirection()
    assert result.GetPixelID() == image.GetPixelID()
    assert [p.name for p in target.parent.iterdir()] == ["ct_clipped.nrrd"]  # no temporary left


def test_empty_range_is_refused():
    image, _ = _ct()
    with pytest.raises(ValueError, match="empty"):
        clip_intensity(image, 3000, -1000)


def test_failed_write_leaves_no_file(tmp_path):
    image, _ = _ct()
    with pytest.raises(RuntimeError):
        write_image(image, tmp_path / "ct.unknown-extension")
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_an_older_image_and_a_failed_write_keeps_it(tmp_path):
    image, array = _ct()
    path = tmp_path / "case_01_OAR_Lips.seg.nrrd"  # NRRD picked from the double suffix
    path.write_bytes(b"older")
    write_image(image, path)
    assert path.read_bytes().startswith(b"NRRD") and np.array_equal(sitk.GetArrayFromImage(read_image(path)), array)
    written = path.read_bytes()
    with pytest.raises(RuntimeError):
        write_image(sitk.Image(), path)  # an empty image: SimpleITK refuses it
    assert path.read_bytes() == written and [p.name for p in tmp_path.iterdir()] == [path.name]


# --- reading with checks, and the one grid comparison ------------------------------------------------------


def _volume(array: np.ndarray, spacing=(0.5576, 0.5576, 2.0), origin=(-285.5, -207.5, -759.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def test_read_image_checks_each_kind(tmp_path):
    mask = np.zeros((4, 5, 6), np.uint8)
    mask[1:3, 2:4, 2:5] = 1
    path = tmp_path / "mask.nrrd"
    sitk.WriteImage(_volume(mask), str(path))
    assert read_image(path, "mask").GetSize() == (6, 5, 4)
    assert read_image(path, "labels").GetSize() == (6, 5, 4)  # 0/1 are label ids too
    sitk.WriteImage(_volume(mask * 31), str(path))
    with pytest.raises(ImageError, match=r"mask.nrrd: label values must be the official ids 0..30, found 0..31"):
        read_image(path, "labels")
    with pytest.raises(ImageError, match=r"mask.nrrd: not a binary mask: holds 31 besides 0 and 1"):
        read_image(path, "mask")
    assert read_image(path).GetSize() == (6, 5, 4)  # as an image, 31 is fine
    sitk.WriteImage(_volume(mask.astype(np.float32) * 0.5), str(path))
    with pytest.raises(ImageError, match=r"holds 0.5 besides"):
        read_image(path, "mask")
    with pytest.raises(ImageError, match=r"must hold integer ids 0..30, not float32"):
        read_image(path, "labels")
    with pytest.raises(ImageError, match=r"nowhere.nrrd: no such file"):
        read_image(tmp_path / "nowhere.nrrd")


def test_nan_and_inf_are_counted_and_named(tmp_path):
    array = np.zeros((3, 4, 5), np.float32)
    array[0, 0, :2] = np.nan
    array[2, 3, 4] = -np.inf
    path = tmp_path / "ct.nrrd"
    sitk.WriteImage(_volume(array), str(path))
    with pytest.raises(ImageError) as error:
        read_image(path)
    assert str(error.value).startswith(f"{path}: 2 NaN and 1 infinite voxels (of 60); replace them")
    assert image_problems(_volume(np.nan_to_num(array))) == []


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        (lambda g: {"origin": (g.origin[0] + 0.009 * 0.5576, *g.origin[1:])}, True),  # 0.9 % of a voxel
        (lambda g: {"origin": (g.origin[0] + 0.011 * 0.5576, *g.origin[1:])}, False),  # 1.1 %
        (lambda g: {"origin": (*g.origin[:2], g.origin[2] + 0.019)}, True),  # z: 1 % of 2 mm is 0.02 mm
        (lambda g: {"spacing": (0.5576 * (1 + 0.9e-5), *g.spacing[1:])}, True),
        (lambda g: {"spacing": (0.5576 * (1 + 2e-5), *g.spacing[1:])}, False),
        (lambda g: {"direction": (1 - 0.9e-5, *g.direction[1:])}, True),
        (lambda g: {"direction": (1 - 2e-5, *g.direction[1:])}, False),
        (lambda g: {"size": (g.size[0] - 1, *g.size[1:])}, False),
    ],
)
def test_one_grid_comparison_with_one_set_of_tolerances(change, accepted):
    grid = Grid.of(_volume(np.zeros((4, 5, 6), np.uint8)))
    other = dataclasses.replace(grid, **change(grid))
    assert (grid.mismatch(other) is None) == accepted


def test_grid_message_gives_difference_tolerance_and_fix():
    ct = _volume(np.zeros((4, 5, 6), np.int16))
    mask = _volume(np.zeros((4, 5, 6), np.uint8), origin=(-284.0, -207.5, -759.0))
    with pytest.raises(GridError) as error:
        check_same_grid(mask, ct, "case_01_OAR_Lips.seg.nrrd", "case_01_IMG_CT.nrrd")
    assert str(error.value) == (
        "case_01_OAR_Lips.seg.nrrd is not on the grid of case_01_IMG_CT.nrrd: origin (-284, -207.5, -759) differs "
        "from (-285.5, -207.5, -759) by (1.5, 0, 0) mm (tolerance (0.005576, 0.005576, 0.02) mm: 1% of a voxel); "
        "resample it onto the reference grid (nearest neighbour for masks) or correct its header"
    )


def test_axial_check_and_largest_component():
    image = _volume(np.zeros((4, 5, 6), np.uint8))
    image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, -1))  # flipped axes stay axial
    check_axial(image, "flipped")
    image.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, 1))
    with pytest.raises(ImageError, match="swapped: direction matrix .* is not axial"):
        check_axial(image, "swapped")
    array = np.zeros((4, 5, 6), np.uint8)
    array[0, 0, 0] = 1
    array[1:4, 2:5, 2:6] = 1
    kept = sitk.GetArrayFromImage(largest_component(_volume(array)))
    assert kept.sum() == 36 and kept[0, 0, 0] == 0
