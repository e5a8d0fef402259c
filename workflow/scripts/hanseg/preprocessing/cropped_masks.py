"""Organ masks kept as their bounding boxes, from binary masks or from label maps with the official ids.

A 30-organ case on a 1142 x 1142 x 202 grid would need 60 full-size volumes to hold a reference and a
prediction mask per organ; cropped to their boxes as soon as they are read, they take a few MB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.boxes import Box, bounding_box, label_boxes
from hanseg.core.images import ImageError, label_problems

__all__ = ["CroppedMask", "MaskLike", "array_view", "as_cropped", "check_label_map", "masks_from_labels"]

_ORGAN_BY_ID = {i: organ for organ, i in dataset_layout.LABEL_IDS.items()}


@dataclass(frozen=True)
class CroppedMask:
    """A binary mask kept as its bounding box only: `mask` is the content of `box` in an array of `shape`."""

    shape: tuple[int, int, int]
    box: Box | None  # None: empty
    mask: np.ndarray  # bool, shape of the box

    @classmethod
    def empty(cls, shape: tuple[int, int, int]) -> CroppedMask:
        return cls(shape, None, np.zeros((0, 0, 0), bool))

    @classmethod
    def from_array(cls, array: np.ndarray, offset: Sequence[int] = (0, 0, 0), shape: Sequence[int] | None = None):
        """Crop a mask (any dtype, nonzero = inside) that sits at `offset` in an array of `shape`."""
        full_shape = tuple(int(v) for v in (shape if shape is not None else array.shape))
        box = bounding_box(array)
        if box is None:
            return cls.empty(full_shape)  # type: ignore[arg-type]
        inside = np.asarray(array[box]) != 0
        shifted = tuple(slice(s.start + o, s.stop + o) for s, o in zip(box, offset, strict=True))
        return cls(full_shape, shifted, inside)  # type: ignore[arg-type]

    @property
    def voxels(self) -> int:
        return int(np.count_nonzero(self.mask)) if self.box is not None else 0

    def within(self, fov: np.ndarray | None) -> CroppedMask:
        """The part inside a full-size boolean FoV, cropped again to its (smaller) box."""
        if fov is None or self.box is None:
            return self
        kept = self.mask & fov[self.box]
        return CroppedMask.from_array(kept, [s.start for s in self.box], self.shape)

    def without(self, other: CroppedMask) -> CroppedMask:
        """This mask minus the voxels of `other` (same array shape), cropped again."""
        if self.box is None or other.box is None:
            return self
        common = tuple(
            slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(self.box, other.box, strict=True)
        )
        if any(s.stop <= s.start for s in common):
            return self
        kept = self.mask.copy()
        mine = tuple(slice(c.start - a.start, c.stop - a.start) for c, a in zip(common, self.box, strict=True))
        theirs = tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(common, other.box, strict=True))
        kept[mine] &= ~other.mask[theirs]
        return CroppedMask.from_array(kept, [s.start for s in self.box], self.shape)

    def window(self, box: Box) -> np.ndarray:
        """The mask inside `box`, which must contain this mask's own box."""
        out = np.zeros(tuple(s.stop - s.start for s in box), bool)
        if self.box is not None:
            out[tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(self.box, box, strict=True))] = (
                self.mask
            )
        return out


MaskLike = sitk.Image | np.ndarray | CroppedMask


def array_view(value: sitk.Image | np.ndarray) -> np.ndarray:
    """The voxels (z, y, x) of an image or array. For an image this is a read-only view, valid while the image
    lives; callers copy what they keep."""
    return sitk.GetArrayViewFromImage(value) if isinstance(value, sitk.Image) else np.asarray(value)


def as_cropped(value: MaskLike, name: str) -> CroppedMask:
    """A binary mask (image, array or already cropped) as a :class:`CroppedMask`; `name` goes into errors."""
    if isinstance(value, CroppedMask):
        return value
    array = array_view(value)
    if array.ndim != 3:
        raise ValueError(f"{name}: expected a 3-D mask, got shape {array.shape}")
    return CroppedMask.from_array(array)


def check_label_map(array: np.ndarray, name: str) -> None:
    """ImageError naming `name` unless `array` is a 3-D integer map of official ids 0..30."""
    if array.ndim != 3:
        raise ImageError(f"{name}: expected a 3-D label map, got shape {array.shape}")
    problems = label_problems(array)
    if problems:
        raise ImageError(f"{name}: {problems[0]}")


def masks_from_labels(labels: sitk.Image | np.ndarray, name: str = "label map") -> dict[str, CroppedMask]:
    """Organ -> cropped mask of a label map with the official ids; labels absent from the map are left out."""
    array = array_view(labels)
    check_label_map(array, name)
    shape = tuple(int(v) for v in array.shape)
    boxes = label_boxes(array, list(dataset_layout.LABEL_IDS.values()))
    return {
        _ORGAN_BY_ID[k]: CroppedMask(shape, box, np.asarray(array[box]) == k)  # type: ignore[arg-type]
        for k, box in boxes.items()
        if box is not None
    }
