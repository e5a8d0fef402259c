"""How well a registered MR lies on its CT: the registration QC's candidate measures and its pass/warn/fail decision.

Every measure is computed on one QC grid: :data:`QC_SPACING_MM` isotropic voxels over the CT region that the MR
covers, the CT and the registered MR (both on the CT's grid, as the registration writes them) smoothed to that scale
and sampled linearly, and only inside the MR's field of view shrunk by :data:`FOV_MARGIN_MM` (the field of view's
own border is an edge in the MR that the CT does not have). The candidates:

- ``head_agreement_present``: the gate used before this module (the CT above
  :data:`~hanseg.registration.head_masks.CT_HEAD_HU` and the MR above its tissue threshold, largest components, voxel
  agreement). In T1 the cortical bone, CSF and air cavities are dark, and a radiotherapy CT's
  couch, mask and cushion touch the head, so the two masks disagree even when the alignment is perfect.
- ``head_agreement``: the same with both masks opened (the set-up objects cut away) and filled slice by slice.
- ``skin_distance_mm``: mean distance (both ways) between the two modalities' skin surfaces, the one boundary that
  both show with a strong edge.
- ``nmi``: normalised mutual information (H(CT) + H(MR)) / H(CT, MR), 1 for independent images, up to 2.
- ``ngf``: normalised gradient fields: the mean squared cosine between the two images' gradients, each damped
  below its own typical edge strength, so it measures whether edges lie on edges, whatever the contrast.
- ``local_ngf_p10``: the 10th percentile of ``ngf`` over 32 mm blocks: a part of the head that is off.

:data:`CHECKS` names the measures the QC verdict is made of (:func:`decide`: the worst check decides), with the
thresholds of the config's ``registration.qc``; the choice and the thresholds come from
``bench/bench_registration_qc.py`` on the realistic family (docs/registration.md, "Calibration"). What is done with a
verdict is :mod:`hanseg.registration.qc_verdict`'s. The head masks are :mod:`hanseg.registration.head_masks`'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from hanseg.core.images import index_box
from hanseg.registration.head_masks import (
    CT_HEAD_HU,
    head_mask,
    largest_component_array,
    mask_agreement,
    mr_tissue_threshold,
)

#: Voxel size (mm) of the QC grid.
QC_SPACING_MM = 2.0
#: The measures ignore this much (mm) of the MR field of view's border.
FOV_MARGIN_MM = 6.0
#: Edge of the blocks of ``local_ngf_p10`` (mm); blocks with less than half their volume in the FoV are skipped.
BLOCK_MM = 32.0


@dataclass
class QCImages:
    """CT and MR on the QC grid ((z, y, x) float32 arrays), and where the measures look (the shrunk FoV)."""

    ct: np.ndarray
    mr: np.ndarray
    fov: np.ndarray
    spacing_mm: float
    #: The head masks, computed once per set of images (several measures need them).
    heads: dict = field(default_factory=dict, repr=False, compare=False)


def _smoothed(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Low-pass to the QC grid's scale along the axes finer than it (no aliasing of noise or thin structures)."""
    sigmas = [math.sqrt(max(spacing_mm**2 - s**2, 0.0)) / 2.0 for s in image.GetSpacing()]
    image = sitk.Cast(image, sitk.sitkFloat32)
    if max(sigmas) <= 0:
        return image
    return sitk.SmoothingRecursiveGaussian(image, [max(s, 1e-3) for s in sigmas])


def grid_over(image: sitk.Image, spacing_mm: float, pixel_type: int = sitk.sitkUInt8) -> sitk.Image:
    """An empty image of isotropic `spacing_mm` voxels covering `image`'s extent (voxel edges aligned)."""
    size = [
        max(2, int(math.ceil(n * s / spacing_mm))) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)
    ]
    grid = sitk.Image(size, pixel_type)
    grid.SetSpacing([spacing_mm] * 3)
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin(
        image.TransformContinuousIndexToPhysicalPoint([-0.5 + 0.5 * spacing_mm / s for s in image.GetSpacing()])
    )
    return grid


def _bounding_grid(fov_mask: sitk.Image, spacing_mm: float) -> sitk.Image:
    """A grid of `spacing_mm` voxels over the bounding box of `fov_mask` (the whole image when it is empty)."""
    inside = np.argwhere(sitk.GetArrayViewFromImage(fov_mask) > 0)
    if len(inside) == 0:
        return grid_over(fov_mask, spacing_mm, sitk.sitkFloat32)
    lo, hi = inside.min(axis=0)[::-1], inside.max(axis=0)[::-1] + 1  # x, y, z
    box = fov_mask[int(lo[0]) : int(hi[0]), int(lo[1]) : int(hi[1]), int(lo[2]) : int(hi[2])]
    return grid_over(box, spacing_mm, sitk.sitkFloat32)


#: Room (mm) around the QC grid kept when cropping before smoothing: the kernel, and the calibration's moves
#: (up to 20 mm, or 10 degrees at about 100 mm from the centre).
CROP_ROOM_MM = 30.0


def _box_around(image: sitk.Image, reference: sitk.Image, room_mm: float) -> tuple[slice, slice, slice]:
    """Index slices (x, y, z) of `image` covering `reference`'s extent grown by `room_mm`."""
    lower, upper = index_box(image, reference, room_mm)
    return tuple(slice(a, b) for a, b in zip(lower, upper, strict=True))


def qc_images(
    ct: sitk.Image,
    mr_in_ct: sitk.Image,
    fov_mask: sitk.Image,
    moved: sitk.Transform | None = None,
    spacing_mm: float = QC_SPACING_MM,
) -> QCImages:
    """CT and registered MR (both on the CT's grid, as ``register`` returns them) on the QC grid over the MR's field
    of view, the field of view shrunk by :data:`FOV_MARGIN_MM`.

    `moved` (a CT -> CT transform) displaces the registered MR and its field of view before the measures: the
    calibration's deliberate failures (the good result offset or rotated) are made this way.
    """
    reference = _bounding_grid(fov_mask, spacing_mm)
    moved = moved or sitk.Transform()
    # Smoothing only the box that the grid samples (a real CT is several times larger), with room for the kernel
    # and for the calibration's moves.
    box = _box_around(ct, reference, CROP_ROOM_MM)
    ct_q = sitk.Resample(_smoothed(ct[box], spacing_mm), reference, sitk.Transform(), sitk.sitkLinear, -1000.0)
    mr_q = sitk.Resample(_smoothed(mr_in_ct[box], spacing_mm), reference, moved, sitk.sitkLinear, 0.0)
    fov = sitk.Resample(sitk.Cast(fov_mask, sitk.sitkUInt8), reference, moved, sitk.sitkNearestNeighbor, 0)
    margin = max(1, int(round(FOV_MARGIN_MM / spacing_mm)))
    fov = sitk.BinaryErode(fov, [margin] * 3, sitk.sitkBall)
    return QCImages(
        sitk.GetArrayFromImage(ct_q),
        sitk.GetArrayFromImage(mr_q),
        sitk.GetArrayFromImage(fov) > 0,
        spacing_mm,
    )


# ---- head masks ----------------------------------------------------------------------------------------------
def _head_masks(q: QCImages, *, opened: bool) -> tuple[np.ndarray, np.ndarray]:
    """(CT head, MR head) on the QC grid; `opened`: :func:`head_mask`, else only the largest components."""
    if opened not in q.heads:
        q.heads[opened] = _compute_head_masks(q, opened=opened)
    return q.heads[opened]


def _compute_head_masks(q: QCImages, *, opened: bool) -> tuple[np.ndarray, np.ndarray]:
    ct = q.ct > CT_HEAD_HU
    # The MR's threshold comes from its own field of view only (outside it the resampled MR is zero by construction).
    mr = q.mr > mr_tissue_threshold(q.mr[q.fov]) if q.fov.any() else np.zeros_like(ct)
    spacing = (q.spacing_mm,) * 3
    if opened:
        return head_mask(ct, spacing), head_mask(mr, spacing)
    return largest_component_array(ct), largest_component_array(mr)


def head_agreement_present(q: QCImages) -> float:
    return mask_agreement(*_head_masks(q, opened=False), q.fov)[1]


def head_agreement(q: QCImages) -> float:
    return mask_agreement(*_head_masks(q, opened=True), q.fov)[1]


def skin_distance_mm(q: QCImages) -> float:
    """Mean of the distances from each skin surface voxel (inside the shrunk FoV) to the other modality's skin."""
    from scipy import ndimage

    ct, mr = _head_masks(q, opened=True)
    distances = []
    for a, b in ((ct, mr), (mr, ct)):
        surface_a = a & ~ndimage.binary_erosion(a) & q.fov
        surface_b = b & ~ndimage.binary_erosion(b)
        if not surface_a.any() or not surface_b.any():
            return float("inf")
        distance_to_b = ndimage.distance_transform_edt(~surface_b, sampling=q.spacing_mm)
        distances.append(distance_to_b[surface_a])
    return float(np.concatenate(distances).mean())


def _signed_skin_distances(q: QCImages) -> np.ndarray:
    """Signed distance (mm, positive outside the CT's head) from the CT's skin of every MR skin voxel inside the
    shrunk field of view, and the negated distance from the MR's skin of every CT skin voxel there."""
    from scipy import ndimage

    ct, mr = _head_masks(q, opened=True)
    values = []
    for a, b, sign in ((mr, ct, 1.0), (ct, mr, -1.0)):
        surface_a = a & ~ndimage.binary_erosion(a) & q.fov
        if not surface_a.any() or not b.any() or b.all():
            return np.array([np.inf])
        outside = ndimage.distance_transform_edt(~b, sampling=q.spacing_mm)
        inside = ndimage.distance_transform_edt(b, sampling=q.spacing_mm)
        values.append(sign * (outside - inside)[surface_a])
    return np.concatenate(values)


def skin_misfit_mm(q: QCImages) -> float:
    """Mean absolute deviation of the signed skin-to-skin distances from their median (mm).

    A uniform offset of one skin against the other (a threshold that finds the MR's skin a voxel deeper, a dark
    outer layer in T1) moves every distance alike and costs nothing; a shift or a turn moves the MR's skin out on
    one side and in on the other, and a mirrored MR out where the head is asymmetric. The set-up objects touching
    the head (opened away, else a few outliers) hardly move the median.
    """
    distances = _signed_skin_distances(q)
    if not np.isfinite(distances).all():
        return float("inf")
    return float(np.abs(distances - np.median(distances)).mean())


def nmi(q: QCImages, bins: int = 32) -> float:
    a, b = q.ct[q.fov], q.mr[q.fov]
    if a.size < 100:
        return float("nan")
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    p = joint / joint.sum()

    def entropy(x: np.ndarray) -> float:
        x = x[x > 0]
        return float(-(x * np.log(x)).sum())

    return (entropy(p.sum(axis=0)) + entropy(p.sum(axis=1))) / entropy(p.ravel())


def _normalised_gradients(image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Gradient (3, z, y, x) divided by sqrt(|g|^2 + eps^2), eps the median gradient strength in the FoV."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(image.astype(np.float32), 1.0)
    gradient = np.stack(np.gradient(smooth))
    magnitude2 = (gradient**2).sum(axis=0)
    eps2 = float(np.median(magnitude2[fov])) if fov.any() else 1.0
    return gradient / np.sqrt(magnitude2 + max(eps2, 1e-12))


def _ngf_map(q: QCImages) -> np.ndarray:
    a = _normalised_gradients(q.ct, q.fov)
    b = _normalised_gradients(q.mr, q.fov)
    return (a * b).sum(axis=0) ** 2


def ngf(q: QCImages) -> float:
    values = _ngf_map(q)[q.fov]
    return float(values.mean()) if values.size else 0.0


def local_ngf_p10(q: QCImages) -> float:
    values = _ngf_map(q)
    step = max(2, int(round(BLOCK_MM / q.spacing_mm)))
    means = []
    nz, ny, nx = values.shape
    for z in range(0, nz, step):
        for y in range(0, ny, step):
            for x in range(0, nx, step):
                fov = q.fov[z : z + step, y : y + step, x : x + step]
                if fov.sum() >= 0.5 * step**3:
                    means.append(values[z : z + step, y : y + step, x : x + step][fov].mean())
    return float(np.percentile(means, 10)) if means else 0.0


# ---- local optimality: does a fresh rigid alignment move the result? ------------------------------------------
#: Displacements are measured over the CT's head inside the shrunk FoV; fewer voxels than this: not measured.
MIN_REALIGN_VOXELS = 500


def _as_image(array: np.ndarray, spacing_mm: float) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing([spacing_mm] * 3)
    return image


def rigid_realignment(q: QCImages, moving: np.ndarray | None = None) -> sitk.Transform:
    """A rigid Mattes-MI registration of the (registered) MR onto the CT on the QC grid, from where it lies.

    Samples the whole shrunk field of view, air around the head included: the skin is the edge both modalities show
    best (sampled inside the head only, good results moved by up to 5 mm on the realistic family). Returns the
    transform (QC grid physical space, origin 0).
    """
    mask = q.fov
    fixed = _as_image(q.ct, q.spacing_mm)
    moving_image = _as_image(q.mr if moving is None else moving, q.spacing_mm)
    mask_image = sitk.GetImageFromArray(mask.astype(np.uint8))
    mask_image.SetSpacing([q.spacing_mm] * 3)
    centre = (np.argwhere(mask).mean(axis=0)[::-1] * q.spacing_mm) if mask.any() else np.zeros(3)
    initial = sitk.Euler3DTransform()
    initial.SetCenter(centre.tolist())
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(0.2, 1)
    method.SetMetricFixedMask(mask_image)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=0.01, numberOfIterations=150, relaxationFactor=0.6
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    return method.Execute(fixed, moving_image)


def _displacement_mm(transform: sitk.Transform, mask: np.ndarray, spacing_mm: float) -> float:
    """Root mean square displacement (mm) that `transform` applies to the voxels of `mask` (subsampled)."""
    points = np.argwhere(mask)[::7][:, ::-1] * spacing_mm
    moved = np.array([transform.TransformPoint(p) for p in points.tolist()])
    return float(np.sqrt(((moved - points) ** 2).sum(axis=1).mean()))


def realignment_mm(q: QCImages) -> float:
    """How far (RMS, mm, over the head in the FoV) a fresh rigid alignment moves the registered MR.

    A good registration sits at the optimum: a local search from it stays put (well under a voxel). A result off
    by a few mm or degrees is pulled back by about as much, whatever the direction: unlike a surface distance it
    sees shifts along the skin and turns about the head's axis.
    """
    ct_head, _ = _head_masks(q, opened=True)
    if (ct_head & q.fov).sum() < MIN_REALIGN_VOXELS:
        return float("inf")
    transform = rigid_realignment(q)
    return _displacement_mm(transform, ct_head & q.fov, q.spacing_mm)


def mirrored_about_head(q: QCImages) -> np.ndarray:
    """The QC grid's MR mirrored left-right about the plane through the centre of the CT's head (in the FoV)."""
    from scipy import ndimage

    ct_head, _ = _head_masks(q, opened=True)
    inside = np.argwhere(ct_head & q.fov)
    centre_x = inside[:, 2].mean() if len(inside) else (q.mr.shape[2] - 1) / 2
    zz, yy, xx = np.meshgrid(
        np.arange(q.mr.shape[0]), np.arange(q.mr.shape[1]), 2.0 * centre_x - np.arange(q.mr.shape[2]), indexing="ij"
    )
    return ndimage.map_coordinates(q.mr, [zz, yy, xx], order=1, mode="constant", cval=0.0).astype(np.float32)


def mirror_nmi_gain(q: QCImages) -> float:
    """NMI gain (x 1000) when the registered MR is mirrored left-right about the head's centre and realigned.

    A patient's asymmetries (a tumour, a deviated nose, unequal sinuses, the ears) make the true orientation fit
    better than its mirror image: negative for a correct MR, positive for one whose left and right are swapped.
    Both orientations are realigned alike, so that the mirror plane's small error costs neither of them.
    """
    ct_head, _ = _head_masks(q, opened=True)
    mask = ct_head & q.fov
    if mask.sum() < MIN_REALIGN_VOXELS:
        return float("inf")
    fixed = _as_image(q.ct, q.spacing_mm)
    scores = []
    for image in (q.mr, mirrored_about_head(q)):
        transform = rigid_realignment(q, image)
        moved = sitk.Resample(_as_image(image, q.spacing_mm), fixed, transform, sitk.sitkLinear, 0.0)
        scores.append(nmi(QCImages(q.ct, sitk.GetArrayFromImage(moved), mask, q.spacing_mm)))
    return 1000.0 * (scores[1] - scores[0])


#: name -> (function, True if larger values mean better alignment, unit)
CANDIDATES = {
    "head_agreement_present": (head_agreement_present, True, ""),
    "head_agreement": (head_agreement, True, ""),
    "skin_distance_mm": (skin_distance_mm, False, "mm"),
    "skin_misfit_mm": (skin_misfit_mm, False, "mm"),
    "nmi": (nmi, True, ""),
    "ngf": (ngf, True, ""),
    "local_ngf_p10": (local_ngf_p10, True, ""),
    "realignment_mm": (realignment_mm, False, "mm"),
    "mirror_nmi_gain": (mirror_nmi_gain, False, ""),
}


#: The QC's checks, each catching what the others miss: ``realignment_mm`` a result off by a few mm or degrees (in
#: any direction), ``skin_distance_mm`` one off by more than a local search recovers, ``mirror_nmi_gain`` an MR
#: whose left and right are swapped (no rigid transform undoes that). Thresholds: the config's ``registration.qc``.
CHECKS = ("realignment_mm", "skin_distance_mm", "mirror_nmi_gain")
STATUSES = ("pass", "warn", "fail")


def default_thresholds() -> dict[str, dict[str, float]]:
    """``registration.qc``'s defaults from the config schema: {check: {"warn": ..., "fail": ...}}."""
    from hanseg.core.defaults import default

    return {
        check: {key: float(default(f"registration.qc.{check}.{key}")) for key in ("warn", "fail")} for check in CHECKS
    }


def check_values(q: QCImages) -> dict[str, float]:
    return {name: float(CANDIDATES[name][0](q)) for name in CHECKS}


def candidate_values(q: QCImages, skip: tuple[str, ...] = ()) -> dict[str, float]:
    return {name: float(function(q)) for name, (function, _, _) in CANDIDATES.items() if name not in skip}


def classify(value: float, thresholds: dict[str, float], *, higher_is_better: bool) -> str:
    """pass, warn or fail; a value that is not a number (no overlap left to measure) fails."""
    if not math.isfinite(value):
        return "fail"
    sign = 1.0 if higher_is_better else -1.0
    if sign * value < sign * thresholds["fail"]:
        return "fail"
    if sign * value < sign * thresholds["warn"]:
        return "warn"
    return "pass"


def _rounded(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def decide(values: dict[str, float], thresholds: dict | None = None) -> dict:
    """The QC block of ``registration.json`` from the checks' values: the worst check decides.

    ``status``, and the deciding check's ``measure``, ``value``, ``unit``, ``higher_is_better`` and ``thresholds``
    (the first check in :data:`CHECKS` order among the worst); ``checks`` holds every check's value, status and
    thresholds.
    """
    thresholds = check_thresholds(thresholds or default_thresholds())
    checks = {}
    for name in CHECKS:
        _, higher_is_better, unit = CANDIDATES[name]
        checks[name] = {
            "status": classify(values[name], thresholds[name], higher_is_better=higher_is_better),
            "value": _rounded(values[name]),
            "unit": unit,
            "higher_is_better": higher_is_better,
            "thresholds": thresholds[name],
        }
    worst = max(CHECKS, key=lambda name: (STATUSES.index(checks[name]["status"]), -CHECKS.index(name)))
    return {
        "status": checks[worst]["status"],
        "measure": worst,
        **{k: v for k, v in checks[worst].items() if k != "status"},
        "checks": checks,
    }


def assess(q: QCImages, thresholds: dict | None = None) -> dict:
    """The QC block of ``registration.json`` for the images `q` (see :func:`decide`)."""
    return decide(check_values(q), thresholds)


def check_thresholds(thresholds: dict) -> dict[str, dict[str, float]]:
    """{check: {"warn", "fail"}} as floats for every check (missing checks take the defaults), warn on the good side
    of fail; a ValueError naming the check otherwise."""
    defaults = None
    out = {}
    for name in CHECKS:
        given = thresholds.get(name) if isinstance(thresholds, dict) else None
        if given is None:
            defaults = defaults or default_thresholds()
            given = defaults[name]
        try:
            warn, fail = float(given["warn"]), float(given["fail"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"registration.qc.{name} needs numbers 'warn' and 'fail', got {given!r}") from error
        higher_is_better = CANDIDATES[name][1]
        if (warn < fail) if higher_is_better else (warn > fail):
            better = "above" if higher_is_better else "below"
            raise ValueError(
                f"registration.qc.{name}: the warn threshold ({warn:g}) must lie {better} the fail threshold ({fail:g})"
            )
        out[name] = {"warn": warn, "fail": fail}
    unknown = set(thresholds or {}) - set(CHECKS)
    if unknown:
        raise ValueError(f"registration.qc: unknown checks {sorted(unknown)} (known: {', '.join(CHECKS)})")
    return out
