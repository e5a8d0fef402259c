"""The head in a CT and in an MR, and how well two head masks agree: shared by the initialisation, the QC and
``hanseg segment``'s head check.

CT: the voxels above :data:`CT_HEAD_HU` (the one CT threshold), their largest connected component
(:func:`ct_head_mask`), or the patient without the set-up objects that touch it (:func:`ct_patient_mask`, via
:func:`head_mask`).

MR: two thresholds between air and tissue, each named for what it is. :func:`mr_head_mask` (Otsu on the
intensities) places the head in the initialisation and gives the report's head Dice; :func:`mr_tissue_threshold`
(Otsu on log intensities) makes the QC's head masks, whose thresholds were calibrated on it. One mask for both was
measured (the initialisation on the log-Otsu mask, 9 realistic-family pairs at 128 x 128 x 64, seeds 11 and 5): the
mean TRE fell on average (by 0.12 mm) but rose by 0.21 mm on one pair, and one pair's QC verdict changed (warn to
pass), so the registration's outputs were kept as they were calibrated.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from hanseg.core.images import largest_component

#: CT threshold for "inside the head" (HU): above air, below every tissue. The one CT threshold of the
#: initialisation, the QC and ``hanseg segment``'s head check.
CT_HEAD_HU = -400.0
#: Radius (mm) of the opening that cuts couch, mask and cushion off the head masks (:func:`head_mask`).
OPENING_RADIUS_MM = 4.0


def largest_component_array(mask: np.ndarray) -> np.ndarray:
    """:func:`hanseg.core.images.largest_component` of a (z, y, x) array, as bool."""
    return sitk.GetArrayFromImage(largest_component(sitk.GetImageFromArray(mask.astype(np.uint8)))) > 0


def ct_head_mask(ct: sitk.Image) -> sitk.Image:
    """The largest connected component above :data:`CT_HEAD_HU` (uint8), set-up objects that touch it included."""
    return largest_component(sitk.Cast(ct, sitk.sitkFloat32) > CT_HEAD_HU)


def _ball(radius_mm: float, spacing_zyx) -> np.ndarray:
    """A boolean ellipsoid of `radius_mm` in voxels of `spacing_zyx` (at least one voxel along each axis)."""
    radii = [max(1, int(round(radius_mm / s))) for s in spacing_zyx]
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    return sum((g / r) ** 2 for g, r in zip(grids, radii, strict=True)) <= 1.0


def head_mask(above: np.ndarray, spacing_zyx, *, opening_mm: float = OPENING_RADIUS_MM) -> np.ndarray:
    """The head inside a threshold mask ((z, y, x) bool): thin structures opened away, largest component, holes
    filled in every axial slice.

    In a radiotherapy CT the couch's carbon skins, the thermoplastic mask (touching the nose and chin), its frame and
    a head cushion's cover lie above the threshold and touch the patient; none of them is in the MR. The opening
    removes what is thinner than its ball. In T1 the sinuses, airway, cortical bone and CSF are dark: filling the
    holes slice by slice makes both masks "everything inside the skin".
    """
    from scipy import ndimage

    opened = ndimage.binary_opening(above, structure=_ball(opening_mm, spacing_zyx))
    if not opened.any():  # a tiny or very thin object: keep it as it is
        opened = above
    return np.stack([ndimage.binary_fill_holes(s) for s in largest_component_array(opened)])


def ct_patient_mask(ct: sitk.Image) -> sitk.Image:
    """The patient in the CT without its set-up objects (uint8): :func:`head_mask` of the voxels above
    :data:`CT_HEAD_HU` (couch, thermoplastic mask and frame opened away, largest component, filled).

    The couch and the mask touch the patient, so the largest component above the threshold (:func:`ct_head_mask`)
    carries them, and a slab of it is centred away from the head: on a pair of the realistic family (case_10) the
    initial translation was 33 mm off in z and the rigid stage ended at a TRE of 1.4 mm instead of 1.2 mm.
    """
    above = sitk.GetArrayViewFromImage(sitk.Cast(ct, sitk.sitkFloat32)) > CT_HEAD_HU
    patient = sitk.GetImageFromArray(head_mask(above, ct.GetSpacing()[::-1]).astype(np.uint8))
    patient.CopyInformation(ct)
    return patient


def mr_tissue_threshold(values: np.ndarray) -> float:
    """The MR intensity between air and tissue: Otsu's threshold of log(1 + intensity).

    On the intensities themselves Otsu splits a T1 head into bright (fat, white matter) and dark (muscle, CSF, bone),
    cutting the scalp off the brain; in the log domain the two modes are air (noise) and tissue, whatever the
    scanner's scale, a bias field of +-30 % or the noise level.
    """
    logs = np.log1p(np.clip(values.astype(np.float32), 0, None))
    image = sitk.GetImageFromArray(logs.reshape(-1, 1, 1))
    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetNumberOfHistogramBins(128)
    otsu.Execute(image)
    return float(np.expm1(otsu.GetThreshold()))


def mr_head_mask(mr: sitk.Image) -> sitk.Image:
    """The MR's head (uint8) as the initialisation finds it: the largest component above Otsu's threshold of the
    intensities (128 bins). Otsu separates the dark background from tissue in magnitude images; bias and noise do
    not upset it. It may cut dark tissue (muscle, CSF) off the head, which the QC's :func:`mr_tissue_threshold`
    does not; see the module's doc for why the initialisation keeps this one."""
    mr = sitk.Cast(mr, sitk.sitkFloat32)
    return largest_component(sitk.OtsuThreshold(mr, 0, 1, 128))


def mask_agreement(ct_head: np.ndarray, mr_head: np.ndarray, fov: np.ndarray) -> tuple[float, float]:
    """(Dice, fraction of agreeing voxels) of two head masks inside the MR's field of view (bool arrays).

    Dice alone is fooled by an MR whose "head" fills its whole field of view; the agreement (head vs background,
    voxel by voxel) is not, because a real MR shows air around the head.
    """
    a, b = ct_head & fov, mr_head & fov
    total = a.sum() + b.sum()
    dice = float(2.0 * (a & b).sum() / total) if total else 0.0
    agreement = float((a == b)[fov].mean()) if fov.any() else 0.0
    return dice, agreement
