"""Per-case evaluation with the HaN-Seg paper's rules: Dice and HD95 per organ, inside the MR field of view.

Rules (the paper's, see DESIGN section 6; Table 2 is built from these rows by :mod:`hanseg.tables`):

1. Reference. Every organ is scored against its own binary mask (``resampled/organs/<Organ>.nrrd``, or the
   HaN-Seg ``case_NN_OAR_<Organ>.seg.nrrd``), never against the overlap-resolved ``labels.nrrd``: where two
   organs overlap, the label map (and so any prediction) can give a voxel to one of them only, and the other
   organ then counts that voxel as missed, exactly as the authors' evaluation of the original masks does.
2. Field of view. With a FoV mask (the MR's field of view in CT space), reference and prediction are both
   restricted to it before anything is counted or scored. ``fov_fraction`` = reference voxels inside the FoV /
   all reference voxels. An organ is evaluated only if ``fov_fraction > min_fov_fraction`` (0.2: strictly
   more than 20 %, the paper's "retained more than 20% of their original volume"); otherwise the row says
   ``outside field of view (x % kept)``. Without a FoV mask every present organ has ``fov_fraction`` 1.
3. Absent organs. An organ missing from the reference, or with an empty mask, is not evaluated: ``no
   reference`` (whatever the prediction holds; ``pred_voxels`` still tells). This covers "both empty".
4. Empty prediction. An evaluated organ with no predicted voxel inside the FoV scores Dice 0 and HD95
   ``inf`` (reason ``empty prediction``): such rows are kept and counted, never dropped.
5. Metrics. Dice in [0, 1] (Table 2 shows %), HD95 in mm with DeepMind surface-distance's definition
   (:mod:`hanseg.metrics`), on the evaluation grid with its anisotropic spacing.

Rows have exactly the columns :data:`COLUMNS`, one per organ of the 30 in the official id order; ``ref_voxels``
and ``pred_voxels`` are counted inside the FoV. Masks are cropped to their bounding boxes as soon as they are
read, so a 30-organ case on a 1142 x 1142 x 202 grid holds one full-size FoV mask in memory, not 60 organ
volumes, and scoring costs seconds.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from . import layout
from .atomic import write_text_atomic
from .metrics import _bounding_box, _label_boxes, mask_metrics

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "case",
    "organ",
    "dc",
    "hd95_mm",
    "ref_voxels",
    "pred_voxels",
    "fov_fraction",
    "evaluated",
    "reason",
)

#: The paper's rule: evaluate organs that keep strictly more than this fraction of their volume inside the FoV.
MIN_FOV_FRACTION = 0.2

REASON_NO_REFERENCE = "no reference"
REASON_EMPTY_PREDICTION = "empty prediction"
REASON_OUTSIDE_FOV = "outside field of view"

# "Same grid" tolerances: headers round differently between writers (NIfTI stores float32 geometry).
ORIGIN_TOLERANCE_VOXELS = 0.01
SPACING_RELATIVE_TOLERANCE = 1e-4
DIRECTION_TOLERANCE = 1e-4

_IMAGE_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".mha")
_ORGAN_BY_ID = {i: organ for organ, i in layout.LABEL_IDS.items()}

Box = tuple[slice, slice, slice]


# ---------------------------------------------------------------------------------------------------------
# Grids and cropped masks.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """An image's voxel grid (SimpleITK order: x, y, z)."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        return cls(
            tuple(int(v) for v in image.GetSize()),  # type: ignore[arg-type]
            tuple(float(v) for v in image.GetSpacing()),  # type: ignore[arg-type]
            tuple(float(v) for v in image.GetOrigin()),  # type: ignore[arg-type]
            tuple(float(v) for v in image.GetDirection()),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Numpy shape (z, y, x)."""
        return self.size[::-1]  # type: ignore[return-value]

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        return self.spacing[::-1]  # type: ignore[return-value]

    def mismatch(self, other: Grid) -> str | None:
        """None if `other` is this grid up to header rounding, else what differs."""
        if self.size != other.size:
            return f"size {other.size} != {self.size}"
        if not np.allclose(self.spacing, other.spacing, rtol=SPACING_RELATIVE_TOLERANCE, atol=0):
            return f"spacing {other.spacing} != {self.spacing}"
        if not np.allclose(self.origin, other.origin, rtol=0, atol=ORIGIN_TOLERANCE_VOXELS * min(self.spacing)):
            return f"origin {other.origin} != {self.origin}"
        if not np.allclose(self.direction, other.direction, rtol=0, atol=DIRECTION_TOLERANCE):
            return f"direction {other.direction} != {self.direction}"
        return None


def check_same_grid(image: sitk.Image, reference: sitk.Image, image_name: str, reference_name: str) -> None:
    """ValueError naming both files if `image` is not on `reference`'s grid."""
    problem = Grid.of(reference).mismatch(Grid.of(image))
    if problem:
        raise ValueError(f"{image_name} is not on the grid of {reference_name}: {problem}")


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
        box = _bounding_box(array)  # works on uint8 views too: no full-size bool copy
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

    def window(self, box: Box) -> np.ndarray:
        """The mask inside `box`, which must contain this mask's own box."""
        out = np.zeros(tuple(s.stop - s.start for s in box), bool)
        if self.box is not None:
            out[tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(self.box, box, strict=True))] = (
                self.mask
            )
        return out


MaskLike = sitk.Image | np.ndarray | CroppedMask


def _array(value: sitk.Image | np.ndarray) -> np.ndarray:
    # The view is read-only and valid while `value` lives; callers copy what they keep.
    return sitk.GetArrayViewFromImage(value) if isinstance(value, sitk.Image) else np.asarray(value)


def _crop(value: MaskLike, name: str) -> CroppedMask:
    if isinstance(value, CroppedMask):
        return value
    array = _array(value)
    if array.ndim != 3:
        raise ValueError(f"{name}: expected a 3-D mask, got shape {array.shape}")
    return CroppedMask.from_array(array)


def _check_labels(array: np.ndarray, name: str) -> None:
    if array.ndim != 3:
        raise ValueError(f"{name}: expected a 3-D label map, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise ValueError(f"{name}: a label map must hold integers (official ids 0..30), not {array.dtype}")
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > len(layout.ORGANS):
            raise ValueError(f"{name}: label values must be official ids 0..{len(layout.ORGANS)}, found {low}..{high}")


def masks_from_labels(labels: sitk.Image | np.ndarray, name: str = "label map") -> dict[str, CroppedMask]:
    """Organ -> cropped mask of a label map with the official ids; labels absent from the map are left out."""
    array = _array(labels)
    _check_labels(array, name)
    shape = tuple(int(v) for v in array.shape)
    boxes = _label_boxes(array, list(layout.LABEL_IDS.values()))
    return {
        _ORGAN_BY_ID[k]: CroppedMask(shape, box, np.asarray(array[box]) == k)  # type: ignore[arg-type]
        for k, box in boxes.items()
        if box is not None
    }


def _organ_key(name: str, what: str) -> str:
    organ = layout.normalise_organ(name)
    if organ is None:
        raise ValueError(f"{what}: unknown organ {name!r} (expected one of the 30 HaN-Seg labels)")
    return organ


# ---------------------------------------------------------------------------------------------------------
# The evaluation of one case.
# ---------------------------------------------------------------------------------------------------------


def _union_box(a: Box | None, b: Box | None) -> Box:
    """The box holding both (at least one must be non-empty)."""
    boxes = [box for box in (a, b) if box is not None]
    union = (slice(min(s.start for s in axis), max(s.stop for s in axis)) for axis in zip(*boxes, strict=True))
    return tuple(union)  # type: ignore[return-value]


def _fraction_text(fraction: float) -> str:
    return f"{REASON_OUTSIDE_FOV} ({100.0 * fraction:.1f} % kept)"


def _row(case, organ, dc, hd, ref_voxels, pred_voxels, fov_fraction, evaluated, reason) -> dict:
    return {
        "case": case,
        "organ": organ,
        "dc": float(dc),
        "hd95_mm": float(hd),
        "ref_voxels": int(ref_voxels),
        "pred_voxels": int(pred_voxels),
        "fov_fraction": float(fov_fraction),
        "evaluated": bool(evaluated),
        "reason": reason,
    }


def evaluate_case(
    reference: Mapping[str, MaskLike],
    prediction_labels: sitk.Image | np.ndarray | Mapping[str, MaskLike],
    fov_mask: sitk.Image | np.ndarray | None,
    spacing: Sequence[float] | None,
    *,
    case: str,
    min_fov_fraction: float = MIN_FOV_FRACTION,
    percentile: float = 95.0,
) -> list[dict]:
    """One row per organ of the 30 (official id order) with the rules of the module docstring.

    `reference` maps organ names to binary masks (SimpleITK images, numpy arrays in z, y, x order, or
    :class:`CroppedMask`); `prediction_labels` is a label map with the official ids, or such a mapping (a folder
    of binary masks, which may overlap). `spacing` is in numpy order (z, y, x); None takes it from the first
    SimpleITK image given. All inputs must share one array shape; SimpleITK images must share one grid.
    """
    if not 0.0 <= min_fov_fraction < 1.0:
        raise ValueError(f"min_fov_fraction must lie in [0, 1), got {min_fov_fraction}")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile}")
    images = [("prediction", prediction_labels), ("FoV mask", fov_mask)]
    images += [(f"reference {organ}", mask) for organ, mask in reference.items()]
    images = [(name, value) for name, value in images if isinstance(value, sitk.Image)]
    for name, image in images[1:]:
        check_same_grid(image, images[0][1], name, images[0][0])
    if spacing is None:
        if not images:
            raise ValueError("spacing is needed when no input is a SimpleITK image")
        spacing = Grid.of(images[0][1]).spacing_zyx

    ref = {_organ_key(organ, "reference"): _crop(mask, f"reference {organ}") for organ, mask in reference.items()}
    if isinstance(prediction_labels, Mapping):
        pred = {
            _organ_key(organ, "prediction"): _crop(mask, f"prediction {organ}")
            for organ, mask in prediction_labels.items()
        }
    else:
        pred = masks_from_labels(prediction_labels, "prediction")
    fov = None
    if fov_mask is not None:
        fov = _array(fov_mask) != 0
        if fov.ndim != 3:
            raise ValueError(f"FoV mask: expected a 3-D mask, got shape {fov.shape}")
        if not fov.any():
            log.warning("%s: the FoV mask is empty, no organ can be evaluated", case)
    shapes = {mask.shape for mask in [*ref.values(), *pred.values()]} | ({fov.shape} if fov is not None else set())
    if len(shapes) > 1:
        raise ValueError(f"{case}: reference, prediction and FoV mask differ in shape: {sorted(shapes)}")

    shape = next(iter(shapes)) if shapes else (0, 0, 0)
    nothing = CroppedMask.empty(shape)  # type: ignore[arg-type]
    rows = []
    for organ in layout.ORGANS:
        ref_all = ref.get(organ, nothing)
        ref_in = ref_all.within(fov)
        pred_in = pred.get(organ, nothing).within(fov)
        total, kept, predicted = ref_all.voxels, ref_in.voxels, pred_in.voxels
        nan = math.nan
        if total == 0:
            rows.append(_row(case, organ, nan, nan, 0, predicted, nan, False, REASON_NO_REFERENCE))
            continue
        fraction = kept / total
        if not fraction > min_fov_fraction:
            rows.append(_row(case, organ, nan, nan, kept, predicted, fraction, False, _fraction_text(fraction)))
            continue
        # Score on the union of both boxes: mask_metrics pads it with background, so this equals the full volume.
        box = _union_box(ref_in.box, pred_in.box)
        scores = mask_metrics(ref_in.window(box), pred_in.window(box), spacing, percentile)
        reason = REASON_EMPTY_PREDICTION if predicted == 0 else ""
        rows.append(_row(case, organ, scores.dice, scores.hausdorff, kept, predicted, fraction, True, reason))
    return rows


# ---------------------------------------------------------------------------------------------------------
# Files: loaders with grid checks.
# ---------------------------------------------------------------------------------------------------------


@dataclass
class LoadedMasks:
    """Organ masks read from a folder or a label map; `path` is the file that defined `grid` (for messages)."""

    grid: Grid
    path: Path
    masks: dict[str, CroppedMask]


def read_image(path: Path | str) -> sitk.Image:
    """A 3-D scalar image, or an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path}: cannot read the image ({str(error).strip().splitlines()[-1]})") from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{path}: expected a 3-D scalar image")
    return image


def organ_files(folder: Path | str) -> dict[str, Path]:
    """Organ -> mask file in a folder: `<Organ>.nrrd` (resampling's) or `case_NN_OAR_<Organ>.seg.nrrd` (HaN-Seg's).

    Other files (ct.nrrd, labels.nrrd...) are ignored; a folder without organ files but with an `organs/`
    subfolder (a whole `resampled/` folder) is read from there.
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        suffix = next((s for s in _IMAGE_SUFFIXES if path.name.endswith(s)), None)
        if not path.is_file() or suffix is None:
            continue
        parsed = layout.parse_organ_file(path.name)
        organ = layout.normalise_organ(parsed[1] if parsed else path.name[: -len(suffix)])
        if organ is None:
            continue
        if organ in found:
            raise ValueError(f"{folder}: two masks for {organ}: {found[organ].name} and {path.name}")
        found[organ] = path
    if not found and (folder / "organs").is_dir():
        return organ_files(folder / "organs")
    return found


def _resample_onto(image: sitk.Image, grid: Grid) -> sitk.Image:
    """Nearest neighbour onto `grid` (labels stay labels), without allocating a reference image."""
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(list(grid.size))
    resampler.SetOutputSpacing(grid.spacing)
    resampler.SetOutputOrigin(grid.origin)
    resampler.SetOutputDirection(grid.direction)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    resampler.SetOutputPixelType(image.GetPixelID())
    return resampler.Execute(image)


def _on_grid(image: sitk.Image, path: Path, onto: LoadedMasks | None, resample: bool) -> sitk.Image:
    if onto is None:
        return image
    problem = onto.grid.mismatch(Grid.of(image))
    if problem is None:
        return image
    if resample:
        log.debug("%s: resampled onto the grid of %s (%s)", path, onto.path, problem)
        return _resample_onto(image, onto.grid)
    raise ValueError(f"{path} is not on the grid of {onto.path}: {problem}")


def load_masks(
    path: Path | str, *, onto: LoadedMasks | None = None, resample: bool = False, what: str = "masks"
) -> LoadedMasks:
    """Organ masks from a folder of binary masks, or from a label map file with the official ids.

    With `onto`, every image must lie on that grid (ValueError naming both files), or with `resample` is
    resampled onto it by nearest neighbour. Masks are cropped to their boxes right away to bound memory.
    """
    path = Path(path)
    if path.is_dir():
        files = organ_files(path)
        if not files:
            raise ValueError(f"{path}: no organ masks (<Organ>.nrrd or case_NN_OAR_<Organ>.seg.nrrd) in this folder")
        own: LoadedMasks | None = None  # the folder's own grid: all its masks must share it
        masks: dict[str, CroppedMask] = {}
        for organ, file in files.items():
            image = read_image(file)
            if own is None:
                own = LoadedMasks(Grid.of(image), file, {})
            else:
                _on_grid(image, file, own, resample=False)
            image = _on_grid(image, file, onto, resample)
            masks[organ] = CroppedMask.from_array(sitk.GetArrayViewFromImage(image))
            del image
        assert own is not None
        return LoadedMasks(onto.grid if onto is not None else own.grid, own.path, masks)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder ({what})")
    image = _on_grid(read_image(path), path, onto, resample)
    return LoadedMasks(Grid.of(image), path, masks_from_labels(image, str(path)))


def _guess_case(*paths: Path) -> str:
    """The last `case_NN` in the paths (a case folder, a prediction `case_NN.nrrd`), else the prediction's stem."""
    for path in paths:
        for part in reversed(path.parts):
            match = re.match(r"(case_\d{2,})", part)
            if match:
                return match.group(1)
    name = paths[0].name
    suffix = next((s for s in _IMAGE_SUFFIXES if name.endswith(s)), "")
    return name[: len(name) - len(suffix)]


def evaluate_files(
    ref: Path | str,
    pred: Path | str,
    fov_mask: Path | str | None = None,
    *,
    case: str | None = None,
    min_fov_fraction: float = MIN_FOV_FRACTION,
    percentile: float = 95.0,
    resample_prediction: bool = False,
) -> list[dict]:
    """Evaluate one case from files; the reference's grid is the evaluation grid.

    `ref`: folder of per-organ masks or a label map; `pred`: label map or folder of masks; `fov_mask`: the MR's
    field of view on the reference grid. Grids must agree (ValueError naming both files), except that
    ``resample_prediction=True`` brings the prediction onto the reference grid by nearest neighbour (evaluation
    space "original": predictions made on the 0.5 mm grid scored on the CT's own grid).
    """
    ref, pred = Path(ref), Path(pred)
    case = case or _guess_case(pred, ref)
    reference = load_masks(ref, what="reference")
    prediction = load_masks(pred, onto=reference, resample=resample_prediction, what="prediction")
    fov_image = None
    if fov_mask is not None:
        fov_image = read_image(fov_mask)
        _on_grid(fov_image, Path(fov_mask), reference, resample=False)
    return evaluate_case(
        reference.masks,
        prediction.masks,
        fov_image,
        reference.grid.spacing_zyx,
        case=case,
        min_fov_fraction=min_fov_fraction,
        percentile=percentile,
    )


# ---------------------------------------------------------------------------------------------------------
# Tables.
# ---------------------------------------------------------------------------------------------------------


def _frame(rows: Iterable[dict]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def frame_to_tsv(frame: pd.DataFrame) -> str:
    """TSV text of a per-case table: ``inf`` and ``nan`` spelled out, so a reader sees them."""
    return frame.to_csv(sep="\t", index=False, na_rep="nan", lineterminator="\n")


def write_case_table(rows: Iterable[dict], path: Path | str) -> None:
    """The rows of :func:`evaluate_case` as TSV (columns :data:`COLUMNS`), written atomically."""
    write_text_atomic(path, frame_to_tsv(_frame(rows)))


def _as_bool(values: pd.Series, path: Path) -> pd.Series:
    if values.dtype == bool:
        return values
    spelled = values.astype(str).str.strip().str.lower()
    mapping = {"true": True, "false": False, "1": True, "0": False}
    unknown = sorted(set(spelled) - set(mapping))
    if unknown:
        raise ValueError(f"{path}: column 'evaluated' must be True/False, found {unknown[:3]}")
    return spelled.map(mapping).astype(bool)


def read_case_tables(paths: Iterable[Path | str]) -> pd.DataFrame:
    """Concatenate per-case TSVs (typed: floats with inf/nan, ints, bool `evaluated`, `reason` "" when none).

    Every file must have the columns :data:`COLUMNS`; a (case, organ) pair seen twice is an error naming the
    files, because it would count one organ twice in Table 2.
    """
    import pandas as pd

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no per-case tables given")
    frames = []
    seen: dict[tuple[str, str], Path] = {}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            frame = pd.read_csv(path, sep="\t", dtype={"case": str, "organ": str, "reason": str}, keep_default_na=True)
        except (ValueError, pd.errors.ParserError) as error:
            raise ValueError(f"{path}: not a per-case table ({str(error).strip().splitlines()[-1]})") from None
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}")
        frame = frame[list(COLUMNS)].copy()
        try:
            for column in ("dc", "hd95_mm", "fov_fraction"):
                frame[column] = pd.to_numeric(frame[column]).astype(float)
            for column in ("ref_voxels", "pred_voxels"):
                frame[column] = pd.to_numeric(frame[column]).astype(int)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: bad numbers ({error})") from None
        frame["evaluated"] = _as_bool(frame["evaluated"], path)
        frame["reason"] = frame["reason"].fillna("").astype(str)
        for key in zip(frame["case"], frame["organ"], strict=True):
            if key in seen:
                raise ValueError(f"{path}: {key[0]} {key[1]} is also in {seen[key]}")
            seen[key] = path
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
