"""One case's evaluation from files: reference and prediction as folders of organ masks or label maps.

A folder of binary masks (``resampled/organs/<Organ>.nrrd``, or a HaN-Seg case folder with
``case_NN_OAR_<Organ>.seg.nrrd``) is scored mask by mask; a label map with the official ids is scored as a label
map, one label per voxel. ``resolve_overlaps`` turns a folder of masks into the label map's organs first (the
smaller organ keeps shared voxels, :mod:`hanseg.preprocessing.overlaps`): the workflow's ``evaluation.reference:
labelmap`` on a grid that has no label map of its own (``evaluation.space: original``). The reference's grid is the
evaluation grid; every other image must lie on it (an error naming both files), except a prediction that may be brought
onto it by nearest neighbour.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.defaults import HD_PERCENTILE, MIN_FOV_FRACTION
from hanseg.core.errors import InputError
from hanseg.core.images import Grid, ImageError, read_image
from hanseg.evaluation.case_scores import evaluate_case
from hanseg.preprocessing.backmap import labels_onto
from hanseg.preprocessing.cropped_masks import CroppedMask, masks_from_labels
from hanseg.preprocessing.overlaps import resolve_overlaps as resolve

log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = dataset_layout.MASK_SUFFIXES
#: What to do when a prediction is not on the reference grid.
PREDICTION_GRID_FIX = (
    "predict on the reference grid (hanseg segment writes the CT's own grid), or pass --resample-prediction to bring "
    "it there by nearest neighbour"
)


@dataclass
class LoadedMasks:
    """Organ masks read from a folder or a label map; `path` is the file that defined `grid` (for messages)."""

    grid: Grid
    path: Path
    masks: dict[str, CroppedMask]


def organ_files(folder: Path | str) -> dict[str, Path]:
    """Organ -> mask file in a folder: `<Organ>.nrrd` (resampling's) or `case_NN_OAR_<Organ>.seg.nrrd` (HaN-Seg's).

    Other files (ct.nrrd, labels.nrrd...) are ignored; a folder without organ files but with an `organs/`
    subfolder (a whole `resampled/` folder) is read from there.
    """
    folder = Path(folder)
    found = dataset_layout.organ_files(folder)
    if not found and (folder / "organs").is_dir():
        return organ_files(folder / "organs")
    return found


def _on_grid(image: sitk.Image, path: Path, onto: LoadedMasks | None, resample: bool) -> sitk.Image:
    if onto is None:
        return image
    problem = onto.grid.mismatch(Grid.of(image))
    if problem is None:
        return image
    if resample:
        log.debug("%s: resampled onto the grid of %s (%s)", path, onto.path, problem)
        return labels_onto(image, onto.grid)
    raise ImageError(f"{path} is not on the grid of {onto.path}: {problem}; {PREDICTION_GRID_FIX}")


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
            raise InputError(f"{path}: no organ masks (<Organ>.nrrd or case_NN_OAR_<Organ>.seg.nrrd) in this folder")
        own: LoadedMasks | None = None  # the folder's own grid: all its masks must share it
        masks: dict[str, CroppedMask] = {}
        for organ, file in files.items():
            image = read_image(file, "mask")
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
    image = _on_grid(read_image(path, "labels"), path, onto, resample)
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
    percentile: float = HD_PERCENTILE,
    resample_prediction: bool = False,
    resolve_overlaps: bool = False,
) -> list[dict]:
    """Evaluate one case from files; the reference's grid is the evaluation grid.

    `ref`: folder of per-organ masks or a label map; `pred`: label map or folder of masks; `fov_mask`: the MR's
    field of view on the reference grid. Grids must agree (ValueError naming both files), except that
    ``resample_prediction=True`` brings the prediction onto the reference grid by nearest neighbour
    (:func:`hanseg.preprocessing.backmap.labels_onto`; the workflow's space "original" scores the `segment` rule's label
    maps, already on the CT's grid). ``resolve_overlaps``
    scores a folder of reference masks as the label map the training rule makes of them (a label map
    already is one).
    """
    ref, pred = Path(ref), Path(pred)
    case = case or _guess_case(pred, ref)
    reference = load_masks(ref, what="reference")
    if resolve_overlaps:
        reference.masks = resolve(reference.masks)
    prediction = load_masks(pred, onto=reference, resample=resample_prediction, what="prediction")
    fov_image = None
    if fov_mask is not None:
        fov_image = read_image(fov_mask, "mask")
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
