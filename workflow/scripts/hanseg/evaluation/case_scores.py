"""Per-case evaluation with the HaN-Seg paper's rules: Dice, HD95 (and the authors' surface Dice at 2 mm and
ASSD) per organ, inside the MR field of view.

Rules (the paper's, see DESIGN section 6; Table 2 is built from these rows by :mod:`hanseg.table2`):

1. Reference. Whatever masks the caller gives: by default the workflow gives the organ's voxels in the
   training label map (``evaluation.reference: labelmap``, one label per voxel, the smaller organ keeps
   shared voxels, as the authors scored nnU-Net's test label maps), or each organ's own full mask
   (``masks``), which the label map and so any prediction can only partly cover where organs overlap (see
   :mod:`hanseg.preprocessing.overlaps` for the resulting Dice ceiling). Files are read by
   :mod:`hanseg.evaluation.case_files`.
2. Field of view. With a FoV mask (the MR's field of view in CT space), reference and prediction are both
   restricted to it before anything is counted or scored. ``fov_fraction`` = reference voxels inside the FoV /
   all reference voxels. An organ is evaluated only if ``fov_fraction > min_fov_fraction`` (default 0.2,
   ``evaluation.min_volume_fraction``: strictly more than 20 %, the paper's "retained more than 20% of their
   original volume"); otherwise the row says ``outside field of view (x % kept)``. Without a FoV mask every
   present organ has ``fov_fraction`` 1.
3. Absent organs. An organ missing from the reference, or with an empty mask, is not evaluated: ``no
   reference`` (whatever the prediction holds; ``pred_voxels`` still tells). This covers "both empty".
4. Empty prediction. An evaluated organ with no predicted voxel inside the FoV scores Dice 0, HD95 and ASSD
   ``inf`` and surface Dice 0 (reason ``empty prediction``): such rows are kept and counted, never dropped.
5. Metrics. Dice in [0, 1] (Table 2 shows %), HD95 in mm, surface Dice at 2 mm in [0, 1] and ASSD in mm with
   DeepMind surface-distance's definitions (:mod:`hanseg.evaluation.metrics`), on the evaluation grid with its
   anisotropic spacing.

Rows have exactly the columns :data:`COLUMNS`, one per organ of the 30 in the official id order; ``ref_voxels``
and ``pred_voxels`` are counted inside the FoV. Masks are cropped to their bounding boxes as soon as they are
read (:mod:`hanseg.preprocessing.cropped_masks`), so a 30-organ case on a 1142 x 1142 x 202 grid holds one full-size FoV
mask in memory, not 60 organ volumes, and scoring costs seconds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.boxes import union_box
from hanseg.core.defaults import HD_PERCENTILE, MIN_FOV_FRACTION
from hanseg.core.images import Grid, check_same_grid
from hanseg.evaluation.metrics import SURFACE_DICE_TOLERANCE_MM, mask_metrics
from hanseg.preprocessing.cropped_masks import CroppedMask, MaskLike, array_view, as_cropped, masks_from_labels

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "case",
    "organ",
    "dc",
    "hd95_mm",
    "sdice_2mm",
    "assd_mm",
    "ref_voxels",
    "pred_voxels",
    "fov_fraction",
    "evaluated",
    "reason",
)

#: The score columns: floats, NaN when the organ is not evaluated.
SCORE_COLUMNS: tuple[str, ...] = ("dc", "hd95_mm", "sdice_2mm", "assd_mm")


REASON_NO_REFERENCE = "no reference"
REASON_EMPTY_PREDICTION = "empty prediction"
REASON_OUTSIDE_FOV = "outside field of view"

# ---------------------------------------------------------------------------------------------------------
# Organ names.
# ---------------------------------------------------------------------------------------------------------


def _organ_key(name: str, what: str) -> str:
    organ = dataset_layout.normalise_organ(name)
    if organ is None:
        raise ValueError(f"{what}: unknown organ {name!r} (expected one of the 30 HaN-Seg labels)")
    return organ


# ---------------------------------------------------------------------------------------------------------
# The evaluation of one case.
# ---------------------------------------------------------------------------------------------------------


def _fraction_text(fraction: float) -> str:
    return f"{REASON_OUTSIDE_FOV} ({100.0 * fraction:.1f} % kept)"


def _row(case, organ, scores, ref_voxels, pred_voxels, fov_fraction, evaluated, reason) -> dict:
    dc, hd, sdice, assd = scores
    return {
        "case": case,
        "organ": organ,
        "dc": float(dc),
        "hd95_mm": float(hd),
        "sdice_2mm": float(sdice),
        "assd_mm": float(assd),
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
    percentile: float = HD_PERCENTILE,
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

    ref = {_organ_key(organ, "reference"): as_cropped(mask, f"reference {organ}") for organ, mask in reference.items()}
    if isinstance(prediction_labels, Mapping):
        pred = {
            _organ_key(organ, "prediction"): as_cropped(mask, f"prediction {organ}")
            for organ, mask in prediction_labels.items()
        }
    else:
        pred = masks_from_labels(prediction_labels, "prediction")
    fov = None
    if fov_mask is not None:
        fov = array_view(fov_mask) != 0
        if fov.ndim != 3:
            raise ValueError(f"FoV mask: expected a 3-D mask, got shape {fov.shape}")
        if not fov.any():
            log.warning("%s: the FoV mask is empty, no organ can be evaluated", case)
    shapes = {mask.shape for mask in [*ref.values(), *pred.values()]} | ({fov.shape} if fov is not None else set())
    if len(shapes) > 1:
        raise ValueError(f"{case}: reference, prediction and FoV mask differ in shape: {sorted(shapes)}")

    shape = next(iter(shapes)) if shapes else (0, 0, 0)
    nothing = CroppedMask.empty(shape)  # type: ignore[arg-type]
    not_scored = (math.nan,) * len(SCORE_COLUMNS)
    rows = []
    for organ in dataset_layout.ORGANS:
        ref_all = ref.get(organ, nothing)
        ref_in = ref_all.within(fov)
        pred_in = pred.get(organ, nothing).within(fov)
        total, kept, predicted = ref_all.voxels, ref_in.voxels, pred_in.voxels
        if total == 0:
            rows.append(_row(case, organ, not_scored, 0, predicted, math.nan, False, REASON_NO_REFERENCE))
            continue
        fraction = kept / total
        if not fraction > min_fov_fraction:
            rows.append(_row(case, organ, not_scored, kept, predicted, fraction, False, _fraction_text(fraction)))
            continue
        # Score on the union of both boxes: mask_metrics pads it with background, so this equals the full volume.
        box = union_box(ref_in.box, pred_in.box)
        scores = mask_metrics(ref_in.window(box), pred_in.window(box), spacing, percentile, SURFACE_DICE_TOLERANCE_MM)
        reason = REASON_EMPTY_PREDICTION if predicted == 0 else ""
        rows.append(_row(case, organ, scores, kept, predicted, fraction, True, reason))
    return rows
