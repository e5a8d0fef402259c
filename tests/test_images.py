from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.images import clip_ct_file, clip_intensity, write_image


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
