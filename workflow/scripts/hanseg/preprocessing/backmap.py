"""A prediction on the model's grid brought back onto the original CT's grid: one function for the workflow and
the command line (`hanseg segment`, the `segment` rule, and with it `evaluation.space: original`).

Two ways, chosen by `method`:

- ``nearest``: the label map itself, resampled by nearest neighbour. Needs nothing but the label map; a boundary
  moves by up to half a model voxel (1 mm across the 2 mm slices of the paper's grid).
- ``probabilities``: nnU-Net's per-organ probabilities, each interpolated linearly onto the CT's grid, and every CT
  voxel given the organ (or background) of highest interpolated probability. Boundaries fall between the model's
  voxels where the probabilities cross, not on the model's voxel edges. Each organ is interpolated only inside the
  box of model voxels where its probability reaches 1/C (C classes), grown by one voxel: outside it the organ's
  interpolated probability stays below 1/C, while the classes' probabilities sum to 1, so it cannot be the largest
  there. The result is exactly the arg-max of the interpolated probabilities, at the memory of one float and one
  label per CT voxel plus one organ box at a time (the probabilities themselves are nnU-Net's: C floats per model
  voxel).

Voxels of the CT's grid outside the model's grid (a body-cropped model grid) are background.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from hanseg.core.boxes import bounding_box
from hanseg.core.defaults import BACKMAP_METHODS
from hanseg.core.images import Grid


def check_method(method: str) -> str:
    """`method` if it is one of the schema's ``segment.backmap`` values; ValueError (before anything slow) if not."""
    if method not in BACKMAP_METHODS:
        raise ValueError(f"backmap must be one of {', '.join(BACKMAP_METHODS)}, not {method!r}")
    return method


def _resampler(grid: Grid, interpolator: int, default: float, pixel_type: int) -> sitk.ResampleImageFilter:
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(list(grid.size))
    resampler.SetOutputSpacing(grid.spacing)
    resampler.SetOutputOrigin(grid.origin)
    resampler.SetOutputDirection(grid.direction)
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(default)
    resampler.SetOutputPixelType(pixel_type)
    return resampler


def labels_onto(labels: sitk.Image, grid: Grid) -> sitk.Image:
    """A label map (or mask) onto `grid` by nearest neighbour, background outside its own grid; pixel type kept."""
    if Grid.of(labels).mismatch(grid) is None:
        return labels
    return _resampler(grid, sitk.sitkNearestNeighbor, 0, labels.GetPixelID()).Execute(labels)


def _image(array_zyx: np.ndarray, grid: Grid, start_xyz=(0, 0, 0)) -> sitk.Image:
    """`array_zyx` as an image whose first voxel is voxel `start_xyz` of `grid`."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx, dtype=np.float32))
    image.SetSpacing(grid.spacing)
    image.SetDirection(grid.direction)
    offset = np.asarray(grid.direction).reshape(3, 3) @ (np.asarray(start_xyz, float) * np.asarray(grid.spacing))
    image.SetOrigin((np.asarray(grid.origin) + offset).tolist())
    return image


def _window(source: Grid, box_zyx: tuple[slice, ...], target: Grid) -> tuple[slice, ...] | None:
    """The target voxels (numpy slices) whose centres lie inside the source box: within its voxel centres, and out
    to the grid's edge where the box reaches it (there the box's image ends where the whole grid's image ends, so
    interpolating either gives the same values)."""
    size = np.asarray(source.size)
    lo = np.array([s.start for s in box_zyx][::-1], float)  # x, y, z
    hi = np.array([s.stop for s in box_zyx][::-1], float) - 1
    lo = np.where(lo == 0, -0.5, lo)
    hi = np.where(hi == size - 1, size - 0.5, hi)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    physical = (
        np.asarray(source.origin)
        + (corners * np.asarray(source.spacing)) @ np.asarray(source.direction).reshape(3, 3).T
    )
    target_direction = np.asarray(target.direction).reshape(3, 3)
    indices = np.linalg.solve(target_direction, (physical - np.asarray(target.origin)).T).T / np.asarray(target.spacing)
    start = np.maximum(np.ceil(indices.min(axis=0) - 1e-6), 0).astype(int)
    stop = np.minimum(np.floor(indices.max(axis=0) + 1e-6) + 1, target.size).astype(int)
    if np.any(stop <= start):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(start[::-1], stop[::-1], strict=True))


def _grid_of_window(grid: Grid, window_zyx: tuple[slice, ...]) -> Grid:
    start_xyz = [s.start for s in window_zyx][::-1]
    offset = np.asarray(grid.direction).reshape(3, 3) @ (np.asarray(start_xyz, float) * np.asarray(grid.spacing))
    return Grid(
        tuple(s.stop - s.start for s in window_zyx)[::-1],
        grid.spacing,
        tuple((np.asarray(grid.origin) + offset).tolist()),
        grid.direction,
    )


def _at_least(values: np.ndarray, threshold: float) -> np.ndarray:
    """`values >= threshold`, a little generously (a larger box changes nothing but time), and fast for float16:
    numpy compares half floats element by element, but the bit patterns of non-negative half floats (probabilities)
    order as their values, so they are compared as unsigned integers."""
    threshold *= 0.99  # below the rounding of half floats, whose probabilities need not sum to exactly 1
    if values.dtype == np.float16:
        return values.view(np.uint16) >= np.float16(threshold).view(np.uint16)
    return values >= threshold


def probabilities_onto(probabilities: np.ndarray, source: Grid, target: Grid) -> sitk.Image:
    """Arg-max of the linearly interpolated class probabilities (C, z, y, x on `source`) on `target`, as uint8.

    Class index = label value (nnU-Net's classes are the dataset's labels 0..C-1, background first); ties go to the
    lower id, as in nnU-Net's own arg-max.
    """
    classes = probabilities.shape[0]
    if probabilities.shape[1:] != source.shape:
        raise ValueError(f"probabilities of shape {probabilities.shape[1:]} do not fit the model grid {source.shape}")
    if classes > 256:
        raise ValueError(f"{classes} classes do not fit a uint8 label map")
    background = _image(probabilities[0], source)
    best = sitk.GetArrayFromImage(_resampler(target, sitk.sitkLinear, 1.0, sitk.sitkFloat32).Execute(background))
    del background
    labels = np.zeros(target.shape, dtype=np.uint8)
    for label in range(1, classes):
        box = bounding_box(_at_least(probabilities[label], 1.0 / classes))
        if box is None:
            continue
        grown = tuple(
            slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, probabilities.shape[1:], strict=True)
        )
        window = _window(source, grown, target)
        if window is None:
            continue
        organ = _image(probabilities[label][grown], source, [s.start for s in grown][::-1])
        values = sitk.GetArrayFromImage(
            _resampler(_grid_of_window(target, window), sitk.sitkLinear, 0.0, sitk.sitkFloat32).Execute(organ)
        )
        best_window, labels_window = best[window], labels[window]
        wins = values > best_window
        best_window[wins] = values[wins]
        labels_window[wins] = label
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing(target.spacing)
    image.SetOrigin(target.origin)
    image.SetDirection(target.direction)
    return image


def onto_grid(prediction: sitk.Image, probabilities: np.ndarray | None, target: Grid) -> sitk.Image:
    """The prediction (label map on the model's grid) onto `target`: from its class probabilities when given
    (:func:`probabilities_onto`), else by nearest neighbour (:func:`labels_onto`)."""
    if probabilities is not None:
        return probabilities_onto(probabilities, Grid.of(prediction), target)
    return sitk.Cast(labels_onto(prediction, target), sitk.sitkUInt8)
