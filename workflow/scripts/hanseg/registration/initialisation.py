"""The coarse placement of the MR's head on the CT's head, and the gate it must pass before elastix runs.

The real CT and MR headers share no coordinate system (origins up to 1.1 m apart in z, often no overlap at all), so
the headers cannot start the optimisation. :func:`initial_translation` finds the head in both images
(:mod:`hanseg.registration.head_masks`), slides the MR head's height along the CT head, and keeps the translation
whose head masks agree best (Dice inside the MR's field of view). It needs no intensity relationship between CT and
MR, and it handles an MR that covers only part of the CT's head and neck.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from hanseg.registration.errors import RegistrationError
from hanseg.registration.head_masks import CT_HEAD_HU, ct_patient_mask, mask_agreement, mr_head_mask

log = logging.getLogger(__name__)

#: Grid of the initialisation search (mm): coarse on purpose, the rigid stage refines it.
SEARCH_SPACING_MM = 4.0
SEARCH_STEP_MM = 5.0
#: The best translation must make the head masks agree voxel by voxel (head or background) in at least this fraction
#: of the MR's field of view to start the registration (after it, the QC of :mod:`hanseg.registration.qc_measures`
#: judges the result). Only a gross mismatch should stop here. With the CT's patient mask (no couch, no thermoplastic
#: mask), on the 20 realistic pairs of bench/bench_registration_qc.py (tilts up to 15 degrees, MR fields of view of
#: 220-260 mm and 60-100 % of the head) good pairs reach 0.87-0.95, a bright slab in place of the MR's head at most
#: 0.53: the bar sits midway.
MIN_INITIAL_HEAD_AGREEMENT = 0.7
#: ...and overlap with a Dice of at least this (good pairs 0.74-0.89; the slab reaches 0.65, so this is only a floor).
MIN_INITIAL_HEAD_DICE = 0.4


@dataclass
class Initialisation:
    offset_mm: np.ndarray  # CT point + offset = MR point
    head_dice: float
    candidates: int
    head_agreement: float = 0.0


def coarse(image: sitk.Image, spacing_mm: float, interpolator=sitk.sitkLinear, fill: float = 0.0) -> sitk.Image:
    """`image` resampled (float32) onto isotropic `spacing_mm` voxels covering its extent."""
    size = [
        max(2, int(math.ceil(n * s / spacing_mm))) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)
    ]
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing([spacing_mm] * 3)
    reference.SetDirection(image.GetDirection())
    reference.SetOrigin(
        image.TransformContinuousIndexToPhysicalPoint([-0.5 + 0.5 * spacing_mm / s for s in image.GetSpacing()])
    )
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, fill, sitk.sitkFloat32)


def ones_like(image: sitk.Image, pixel_type: int) -> sitk.Image:
    """An image of ones on `image`'s grid: pushed through a transform, it marks the image's field of view."""
    return sitk.Cast(image * 0 + 1, pixel_type)


def _physical_points(mask: sitk.Image) -> np.ndarray:
    indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].astype(float)  # x, y, z
    direction = np.asarray(mask.GetDirection()).reshape(3, 3)
    return np.asarray(mask.GetOrigin()) + (indices * np.asarray(mask.GetSpacing())) @ direction.T


def _agreement_in_fov(ct_head: sitk.Image, mr_head: sitk.Image, mr_fov: sitk.Image, transform: sitk.Transform):
    """(Dice, agreement) of the head masks with the MR's moved by `transform` (:func:`mask_agreement`)."""
    moved = sitk.GetArrayFromImage(sitk.Resample(mr_head, ct_head, transform, sitk.sitkNearestNeighbor, 0)) > 0
    fov = sitk.GetArrayFromImage(sitk.Resample(mr_fov, ct_head, transform, sitk.sitkNearestNeighbor, 0)) > 0
    return mask_agreement(sitk.GetArrayViewFromImage(ct_head) > 0, moved, fov)


def _coarse_heads(ct: sitk.Image, mr: sitk.Image) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """CT head, MR head and MR field of view on the coarse search grid."""
    mr_coarse = coarse(mr, SEARCH_SPACING_MM)
    return (
        ct_patient_mask(coarse(ct, SEARCH_SPACING_MM, fill=-1000.0)),
        mr_head_mask(mr_coarse),
        ones_like(mr_coarse, sitk.sitkUInt8),
    )


def initial_translation(ct: sitk.Image, mr: sitk.Image) -> Initialisation:
    """The translation (CT -> MR) that best overlays the MR's head on a slab of the CT's head."""
    ct_head, mr_head, mr_fov = _coarse_heads(ct, mr)
    ct_points, mr_points = _physical_points(ct_head), _physical_points(mr_head)
    if len(mr_points) < 50:
        raise RegistrationError("no head found in the MR (empty or all background)")
    if len(ct_points) < 50:
        raise RegistrationError(f"no head found in the CT (nothing above {CT_HEAD_HU:g} HU)")
    mr_centre = mr_points.mean(axis=0)
    height = np.ptp(mr_points[:, 2])
    ct_z = ct_points[:, 2]
    best = Initialisation(np.zeros(3), -1.0, 0)
    candidates = 0
    # Slide a slab as tall as the MR's head from the top of the CT's head downwards.
    for top in np.arange(ct_z.max(), ct_z.min() + min(height, np.ptp(ct_z)) - SEARCH_STEP_MM, -SEARCH_STEP_MM):
        in_slab = (ct_z <= top) & (ct_z >= top - height)
        if in_slab.sum() < 0.2 * len(mr_points):
            continue
        offset = mr_centre - ct_points[in_slab].mean(axis=0)
        dice, agreement = _agreement_in_fov(ct_head, mr_head, mr_fov, sitk.TranslationTransform(3, offset.tolist()))
        candidates += 1
        if dice > best.head_dice:
            best = Initialisation(offset, dice, 0, agreement)
    best.candidates = candidates
    return best


def header_translation(ct: sitk.Image, mr: sitk.Image) -> Initialisation:
    """Trust the headers (data already co-registered): zero translation, with the same head-overlap score."""
    ct_head, mr_head, mr_fov = _coarse_heads(ct, mr)
    dice, agreement = _agreement_in_fov(ct_head, mr_head, mr_fov, sitk.TranslationTransform(3))
    return Initialisation(np.zeros(3), dice, 1, agreement)


def place_head(ct: sitk.Image, mr: sitk.Image, initialisation: str) -> Initialisation:
    """The initial translation by `initialisation` (head_search or headers), checked by :func:`check_placement`."""
    if initialisation == "head_search":
        init = initial_translation(ct, mr)
    elif initialisation == "headers":
        init = header_translation(ct, mr)
    else:
        raise ValueError(f"unknown initialisation {initialisation!r} (head_search or headers)")
    log.info(
        "initial translation %s mm, head Dice %.3f (%d candidates)",
        init.offset_mm.round(1),
        init.head_dice,
        init.candidates,
    )
    check_placement(init)
    return init


def check_placement(init: Initialisation) -> None:
    """The gate before elastix: a RegistrationError unless the head masks overlap and agree well enough."""
    if init.head_dice < MIN_INITIAL_HEAD_DICE or init.head_agreement < MIN_INITIAL_HEAD_AGREEMENT:
        raise RegistrationError(
            f"cannot place the MR's head in the CT: best head overlap Dice {init.head_dice:.2f} (needs "
            f"{MIN_INITIAL_HEAD_DICE}), voxel agreement {init.head_agreement:.2f} (needs {MIN_INITIAL_HEAD_AGREEMENT}) "
            f"over {init.candidates} positions; does the MR show the same patient and region?"
        )
