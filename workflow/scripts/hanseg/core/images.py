"""Image files and grid geometry: every image read is checked here, every image written goes through here.

- Reading (:func:`read_image`): the file exists and is readable, 3D, one value per voxel and finite (NaN or Inf:
  an error with the voxel count); a mask holds only 0 and 1; a label map holds integer ids 0..30. Anything else is
  an :class:`ImageError` naming the file and saying what to do. The workflow's rules and the command line both read
  through here, so a broken file stops the same way wherever it enters.
- Grids (:class:`Grid`): one comparison with one set of tolerances, whose message gives the difference, the
  tolerance and the fix. Headers round differently between writers (6 significant digits in some NRRD writers,
  float32 in NIfTI), so equality is "equal up to rounding", never bit-exact.
- Writing (:func:`write_image`): under a temporary name, then renamed (:func:`hanseg.core.atomic.atomic_path`), so
  a killed job never leaves a truncated file under the real name.
- The axial check (x = left-right), the largest connected component, and the CT's HU clipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.atomic import atomic_path
from hanseg.core.errors import DiskError, InputError, disk_full_cause, one_line

#: Tolerances of "the same grid" (see the module docstring): size equal; spacing equal to 1e-5 relative (6
#: significant digits round by at most 5e-6); origin within 1 % of a voxel on each axis (0.005 mm at 0.5 mm
#: voxels, far above float32 or 6-digit rounding of origins up to 1.1 m); direction cosines within 1e-5.
SPACING_RELATIVE_TOLERANCE = 1e-5
ORIGIN_TOLERANCE_VOXELS = 0.01
DIRECTION_TOLERANCE = 1e-5
#: A direction matrix counts as axial and diagonal when every entry is within this of 0 or +-1.
AXIAL_TOLERANCE = 1e-3

#: What `read_image` checks beyond "3D, scalar, finite".
KINDS = ("image", "mask", "labels")


class ImageError(InputError, ValueError):
    """An image that cannot be used; the message names the file and says what to do."""


class GridError(ImageError):
    """Two images that must share a voxel grid do not; the message gives the difference and the tolerance."""


# ---------------------------------------------------------------------------------------------------------
# Reading with checks.
# ---------------------------------------------------------------------------------------------------------


def _values_besides(array: np.ndarray, allowed: tuple[float, ...], limit: int = 5) -> str:
    """Up to `limit` distinct values of `array` not in `allowed`, as text (computed only when the cheap test failed)."""
    outside = np.ones(array.shape, bool)
    for value in allowed:
        outside &= array != value
    values = np.unique(array[outside])
    text = ", ".join(f"{v:.6g}" for v in values[:limit].tolist())
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


def mask_problems(array: np.ndarray) -> list[str]:
    """Messages (without the file name) if a mask holds anything but 0 and 1."""
    if array.size == 0:
        return []
    if np.issubdtype(array.dtype, np.unsignedinteger) or array.dtype == bool:
        binary = int(array.max()) <= 1  # one pass, no temporary: the common case on full-size masks
    else:
        binary = bool(np.all((array == 0) | (array == 1)))
    if binary:
        return []
    values = _values_besides(array, (0, 1))
    return [
        f"not a binary mask: holds {values} besides 0 and 1; save the mask with 0 outside and 1 inside the organ "
        "(a label map or a probability map is not a mask)"
    ]


def label_problems(array: np.ndarray, max_label: int = len(dataset_layout.ORGANS)) -> list[str]:
    """Messages (without the file name) if a label map holds anything but integer ids 0..`max_label`."""
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        return [
            f"a label map must hold integer ids 0..{max_label}, not {array.dtype} values; "
            "write it as an unsigned integer image with the official HaN-Seg ids"
        ]
    if array.size == 0:
        return []
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > max_label:
        return [
            f"label values must be the official ids 0..{max_label}, found {low}..{high}; "
            "map the labels to the HaN-Seg ids (background 0) first"
        ]
    return []


def image_problems(image: sitk.Image, kind: str = "image") -> list[str]:
    """Messages (without the file name) for everything that makes `image` unusable as a `kind`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    problems = []
    if image.GetDimension() != 3:
        problems.append(
            f"a {image.GetDimension()}D image, expected 3D: export the volume as one 3D file (not a slice, "
            "not a time series)"
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        problems.append(
            f"{image.GetNumberOfComponentsPerPixel()} values per voxel (a vector or colour image), expected one: "
            "export the scalar volume"
        )
    if problems:
        return problems
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        nan = int(np.count_nonzero(np.isnan(array)))
        infinite = int(np.count_nonzero(np.isinf(array)))
        if nan or infinite:
            problems.append(
                f"{nan} NaN and {infinite} infinite voxels (of {array.size}); replace them (for example by the "
                "background value) and write the image again"
            )
            return problems
    if kind == "mask":
        problems += mask_problems(array)
    elif kind == "labels":
        problems += label_problems(array)
    return problems


def read_checked(path: Path | str, kind: str = "image") -> tuple[sitk.Image | None, list[str]]:
    """(image, []) for a usable file, else (None or the image, the messages): for callers that collect problems."""
    path = Path(path)
    if not path.is_file():
        return None, ["no such file"]
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        return None, [
            f"cannot read the image ({one_line(error)}); the file is truncated, damaged or not an image: "
            "copy, extract or download it again"
        ]
    problems = image_problems(image, kind)
    return (None if problems else image), problems


def read_image(path: Path | str, kind: str = "image") -> sitk.Image:
    """The image at `path` after the checks of `kind` (see :data:`KINDS`), or an ImageError naming the file."""
    image, problems = read_checked(path, kind)
    if problems:
        raise ImageError("\n".join(f"{path}: {problem}" for problem in problems))
    assert image is not None
    return image


def check_image(image: sitk.Image, name: str, kind: str = "image") -> sitk.Image:
    """`image` itself if it passes the checks of `kind`, else an ImageError naming it."""
    problems = image_problems(image, kind)
    if problems:
        raise ImageError("\n".join(f"{name}: {problem}" for problem in problems))
    return image


# ---------------------------------------------------------------------------------------------------------
# Grids.
# ---------------------------------------------------------------------------------------------------------


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


@dataclass(frozen=True)
class Grid:
    """An image's voxel grid (SimpleITK order: x, y, z)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        return cls(
            tuple(int(v) for v in image.GetSize()),
            tuple(float(v) for v in image.GetSpacing()),
            tuple(float(v) for v in image.GetOrigin()),
            tuple(float(v) for v in image.GetDirection()),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Numpy shape (z, y, x)."""
        return self.size[::-1]

    @property
    def spacing_zyx(self) -> tuple[float, ...]:
        return self.spacing[::-1]

    def mismatch(self, other: Grid) -> str | None:
        """None if `other` is this grid within the tolerances, else the difference and the tolerance."""
        if self.size != other.size:
            return f"size {other.size} differs from {self.size} (sizes must be equal)"
        spacing = np.asarray(self.spacing)
        spacing_difference = np.asarray(other.spacing) - spacing
        if np.any(np.abs(spacing_difference) > SPACING_RELATIVE_TOLERANCE * np.abs(spacing)):
            return (
                f"spacing {_fmt(other.spacing)} differs from {_fmt(self.spacing)} by {_fmt(spacing_difference)} mm "
                f"(tolerance {SPACING_RELATIVE_TOLERANCE:g} relative)"
            )
        origin_difference = np.asarray(other.origin) - np.asarray(self.origin)
        origin_tolerance = ORIGIN_TOLERANCE_VOXELS * spacing
        if np.any(np.abs(origin_difference) > origin_tolerance):
            return (
                f"origin {_fmt(other.origin)} differs from {_fmt(self.origin)} by {_fmt(origin_difference)} mm "
                f"(tolerance {_fmt(origin_tolerance)} mm: {ORIGIN_TOLERANCE_VOXELS:.0%} of a voxel)"
            )
        direction_difference = np.abs(np.asarray(other.direction) - np.asarray(self.direction))
        if direction_difference.size != len(self.direction) or np.any(direction_difference > DIRECTION_TOLERANCE):
            return (
                f"direction {_fmt(other.direction)} differs from {_fmt(self.direction)} by up to "
                f"{direction_difference.max():.3g} (tolerance {DIRECTION_TOLERANCE:g})"
            )
        return None


#: What to do about a grid mismatch, unless the caller knows better.
RESAMPLE_FIX = "resample it onto the reference grid (nearest neighbour for masks) or correct its header"


def check_same_grid(
    image: sitk.Image, reference: sitk.Image, image_name: str, reference_name: str, fix: str = RESAMPLE_FIX
) -> None:
    """GridError naming both images, the difference, the tolerance and `fix`, unless they share a grid."""
    problem = Grid.of(reference).mismatch(Grid.of(image))
    if problem:
        raise GridError(f"{image_name} is not on the grid of {reference_name}: {problem}; {fix}")


def check_axial(image: sitk.Image, what: str) -> None:
    """ImageError unless the direction matrix is diagonal (axial slices, x = left-right)."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    off_diagonal = direction - np.diag(np.diag(direction))
    diagonal_ok = np.allclose(np.abs(np.diag(direction)), 1.0, atol=AXIAL_TOLERANCE)
    if np.abs(off_diagonal).max() > AXIAL_TOLERANCE or not diagonal_ok:
        raise ImageError(
            f"{what}: direction matrix {direction.round(4).tolist()} is not axial and diagonal; the workflow keeps "
            "x = left-right (nnU-Net's mirroring setting relies on it). Reorient the image first."
        )


def index_box(
    image: sitk.Image, extent_of: sitk.Image, margin_mm: float, shift_mm=(0.0, 0.0, 0.0)
) -> tuple[list[int], list[int]]:
    """(lower, upper) voxel indices (x, y, z; upper exclusive) of `image` covering the extent of `extent_of`, moved
    by -`shift_mm` and grown by `margin_mm` on every side, clipped to `image`; upper <= lower along an axis where they
    do not overlap."""
    size = np.asarray(extent_of.GetSize())
    shift = np.asarray(shift_mm, float)
    corners = np.array(
        [
            image.TransformPhysicalPointToContinuousIndex(
                (
                    np.asarray(
                        extent_of.TransformContinuousIndexToPhysicalPoint(
                            [(-0.5 if b == 0 else n - 0.5) for b, n in zip(bits, size, strict=True)]
                        )
                    )
                    - shift
                ).tolist()
            )
            for bits in np.ndindex(2, 2, 2)
        ]
    )
    margin = margin_mm / np.asarray(image.GetSpacing())
    lower = np.clip(np.floor(corners.min(axis=0) - margin), 0, None).astype(int)
    upper = np.minimum(np.ceil(corners.max(axis=0) + margin).astype(int) + 1, image.GetSize())
    return [int(v) for v in lower], [int(v) for v in upper]


def largest_component(mask: sitk.Image) -> sitk.Image:
    """The largest connected component of a binary image, as uint8 0/1."""
    components = sitk.ConnectedComponent(mask)
    relabelled = sitk.RelabelComponent(components, sortByObjectSize=True)
    return sitk.Cast(relabelled == 1, sitk.sitkUInt8)


# ---------------------------------------------------------------------------------------------------------
# Writing, and the CT's HU clipping.
# ---------------------------------------------------------------------------------------------------------


def write_image(image: sitk.Image, path: Path | str, *, compress: bool = True) -> None:
    """Write next to the target, then rename: a killed job never leaves a truncated file under the real name."""
    with atomic_path(path) as temporary:  # ends in the target's suffixes: SimpleITK picks the format from them
        sitk.WriteImage(image, str(temporary), useCompression=compress)
        _check_written(temporary, image)


def _check_written(path: Path, image: sitk.Image) -> None:
    """ITK's NRRD writer reports no error when a small image does not fit the disk: it leaves an empty file. Where
    the file is empty or the disk (nearly) full, the file is read back before it gets its real name."""
    full = disk_full_cause(path.parent)
    if path.stat().st_size > 0 and full is None:
        return
    try:
        complete = sitk.ReadImage(str(path)).GetSize() == image.GetSize()
    except RuntimeError:
        complete = False
    if not complete:
        raise DiskError(path, full or "the file came out incomplete")


def clip_intensity(image: sitk.Image, lower: float, upper: float) -> sitk.Image:
    """Values clipped to [lower, upper]; pixel type, grid and metadata kept exactly.

    The paper set CT values above 3000 HU (metal) to 3000, and clipped to [-1000, 3000] again after resampling.
    """
    if lower >= upper:
        raise ValueError(f"HU range [{lower}, {upper}] is empty")
    array = sitk.GetArrayViewFromImage(image)
    clipped = sitk.GetImageFromArray(np.clip(array, lower, upper).astype(array.dtype, copy=False))
    clipped.CopyInformation(image)
    for key in image.GetMetaDataKeys():
        clipped.SetMetaData(key, image.GetMetaData(key))
    return clipped


def clip_ct_file(ct_path: Path | str, out_path: Path | str, lower: float, upper: float) -> dict:
    """Clip a CT file; return how many voxels changed on each side (for the log)."""
    image = read_image(ct_path)
    array = sitk.GetArrayViewFromImage(image)
    below, above = int(np.count_nonzero(array < lower)), int(np.count_nonzero(array > upper))
    write_image(clip_intensity(image, lower, upper), out_path)
    return {"voxels_below": below, "voxels_above": above, "lower": lower, "upper": upper}
