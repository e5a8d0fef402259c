"""Back onto the CT's grid: nearest neighbour on labels, and the organs' interpolated probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from hanseg.core.images import Grid
from hanseg.preprocessing.backmap import labels_onto, probabilities_onto

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
FLIPPED = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


def _probabilities(classes: int, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Smooth random class probabilities (softmax of blurred noise), background most likely on average."""
    rng = np.random.default_rng(seed)
    logits = ndimage.gaussian_filter(rng.normal(size=(classes, *shape)) * 6, sigma=(0, 1.5, 1.5, 1.5))
    logits[0] += 1.0
    p = np.exp(logits)
    return (p / p.sum(axis=0, keepdims=True)).astype(np.float32)


def _on(array: np.ndarray, grid: Grid) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(grid.direction)
    return image


def _full_argmax(probabilities: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Every class interpolated over the whole target grid, then the arg-max: what the windows must reproduce."""
    planes = []
    for label, p in enumerate(probabilities):
        resampled = sitk.Resample(
            _on(p.astype(np.float32), source),
            target.size,
            sitk.Transform(),
            sitk.sitkLinear,
            target.origin,
            target.spacing,
            target.direction,
            1.0 if label == 0 else 0.0,  # outside the model's grid: background
            sitk.sitkFloat32,
        )
        planes.append(sitk.GetArrayFromImage(resampled))
    return np.stack(planes).argmax(axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("direction", [IDENTITY, FLIPPED], ids=["LPS", "flipped x and y"])
def test_probabilities_give_exactly_the_argmax_of_every_class_interpolated_everywhere(direction, dtype):
    source_origin = (10.0, -5.0, 3.0) if direction == IDENTITY else (30.0, 20.0, 3.0)
    source = Grid((12, 14, 8), (2.0, 2.0, 4.0), source_origin, direction)
    # A finer grid that is shifted against the model's and reaches beyond it on every side.
    target = Grid((31, 30, 14), (0.9, 1.1, 2.7), (7.3, -8.2, -1.0), IDENTITY)
    probabilities = _probabilities(6, source.shape, seed=0).astype(dtype)  # float16: nnU-Net's logits, in place
    labels = probabilities_onto(probabilities, source, target)
    assert Grid.of(labels) == target and labels.GetPixelID() == sitk.sitkUInt8
    result = sitk.GetArrayFromImage(labels)
    expected = _full_argmax(probabilities, source, target)
    assert len(np.unique(result)) == 6  # every class wins somewhere: the check has something to compare
    np.testing.assert_array_equal(result, expected)


def test_probabilities_onto_a_coarser_grid_and_outside_the_model_grid_is_background():
    source = Grid((20, 20, 10), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), IDENTITY)
    target = Grid((12, 12, 8), (3.0, 3.0, 5.0), (-10.0, -10.0, -10.0), IDENTITY)
    probabilities = _probabilities(4, source.shape, seed=1)
    result = sitk.GetArrayFromImage(probabilities_onto(probabilities, source, target))
    np.testing.assert_array_equal(result, _full_argmax(probabilities, source, target))
    assert (result[:, :, :3] == 0).all()  # x below -1 mm: outside the model's grid


def test_probabilities_must_fit_the_model_grid():
    source = Grid((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY)
    with pytest.raises(ValueError, match="do not fit the model grid"):
        probabilities_onto(np.zeros((3, 4, 4, 5), np.float32), source, source)


def test_labels_onto_keeps_ids_and_is_the_identity_on_the_same_grid():
    source = Grid((6, 5, 4), (2.0, 2.0, 4.0), (0.0, 0.0, 0.0), IDENTITY)
    array = np.zeros(source.shape, np.uint8)
    array[1:3, 2:4, 1:5] = 30
    array[0, 0, 0] = 7
    labels = _on(array, source)
    assert labels_onto(labels, source) is labels
    finer = Grid((12, 10, 8), (1.0, 1.0, 2.0), (-0.5, -0.5, -1.0), IDENTITY)
    result = labels_onto(labels, finer)
    assert Grid.of(result) == finer and result.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(result), array.repeat(2, 0).repeat(2, 1).repeat(2, 2))
