"""Cubic B-spline resampling axis by axis against ITK's own 3D resampling."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.preprocessing.resampling import target_grid
from hanseg.preprocessing.separable import axis_aligned, prefilter, resample_cubic

IDENTITY = (1, 0, 0, 0, 1, 0, 0, 0, 1)


def _noise_image(size, spacing, direction=IDENTITY) -> sitk.Image:
    """White noise (SD 400): the hardest case for agreement, every coefficient matters."""
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(0, 400, size[::-1]).astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin((-31.0, 12.5, -407.0))
    image.SetDirection(direction)
    return image


def _grown(reference: sitk.Image, voxels: int) -> sitk.Image:
    """`reference` grown by `voxels` on every side: target voxels outside the image get the default value."""
    grown = sitk.Image([s + 2 * voxels for s in reference.GetSize()], sitk.sitkUInt8)
    grown.SetSpacing(reference.GetSpacing())
    grown.SetDirection(reference.GetDirection())
    grown.SetOrigin(reference.TransformIndexToPhysicalPoint([-voxels] * 3))
    return grown


@pytest.mark.parametrize(
    ("size", "spacing", "direction", "target"),
    [
        ((40, 36, 12), (0.9, 0.8, 2.0), IDENTITY, (0.5, 0.5, 2.0)),  # 2 mm slices: the z pass skipped
        ((40, 36, 12), (0.9, 0.8, 3.0), IDENTITY, (0.5, 0.5, 2.0)),  # 3 mm slices: interpolated in z
        ((40, 36, 12), (0.9, 0.8, 2.5), (-1, 0, 0, 0, -1, 0, 0, 0, 1), (0.7, 0.5, 2.0)),  # flipped in-plane axes
        ((40, 36, 12), (0.9, 0.8, 2.0), (1, 0, 0, 0, 1, 0, 0, 0, -1), (0.5, 0.5, 2.0)),  # z flipped
        ((30, 33, 40), (0.9, 0.8, 1.0), IDENTITY, (0.5, 1.3, 2.0)),  # downsampled in y and z; 40 slices > horizon
        ((20, 18, 1), (0.9, 0.8, 2.0), IDENTITY, (0.5, 0.5, 2.0)),  # a single slice
    ],
)
def test_equals_itks_cubic_resampling(size, spacing, direction, target):
    image = _noise_image(size, spacing, direction)
    reference = target_grid(image, target)
    for grid in (reference, _grown(reference, 3)):
        expected = sitk.Resample(image, grid, sitk.Transform(), sitk.sitkBSpline, -1000.0, sitk.sitkFloat32)
        got = resample_cubic(image, grid, -1000.0)
        assert got.shape == tuple(grid.GetSize()[::-1])
        np.testing.assert_allclose(got, sitk.GetArrayFromImage(expected), atol=0.01)  # float32 rounding, SD 400


def test_integer_input_and_the_coefficients_interpolate():
    image = sitk.Cast(_noise_image((24, 20, 6), (1.0, 1.0, 2.0)), sitk.sitkInt16)  # a CT's pixel type
    reference = target_grid(image, (0.5, 0.5, 2.0))
    expected = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkBSpline, -1000.0, sitk.sitkFloat32)
    np.testing.assert_allclose(resample_cubic(image, reference, -1000.0), sitk.GetArrayFromImage(expected), atol=0.01)
    signal = np.random.default_rng(1).normal(size=(5, 50))
    coefficients = prefilter(signal.copy(), axis=1)
    # The cubic B-spline through the coefficients passes through every sample: (c[k-1] + 4 c[k] + c[k+1]) / 6.
    np.testing.assert_allclose(
        (coefficients[:, :-2] + 4 * coefficients[:, 1:-1] + coefficients[:, 2:]) / 6, signal[:, 1:-1], atol=1e-9
    )


def test_oblique_grids_are_refused():
    image = _noise_image((10, 10, 4), (1.0, 1.0, 2.0))
    oblique = sitk.Image(image)
    c, s = np.cos(0.1), np.sin(0.1)
    oblique.SetDirection((c, -s, 0, s, c, 0, 0, 0, 1))
    assert axis_aligned(image, image) and not axis_aligned(oblique, image)
    with pytest.raises(ValueError, match="diagonal direction"):
        resample_cubic(oblique, image, 0.0)
