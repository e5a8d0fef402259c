"""MR-to-CT registration with elastix (itk-elastix): initialisation, rigid + B-spline, TRE, QC.

The CT is the fixed image (the organs are drawn on it) and the MR the moving one, so the result transform maps a CT
point to the MR point of the same anatomy, as elastix's transforms always map fixed to moving.

The real CT and MR headers share no coordinate system (origins up to 1.1 m apart in z, often no overlap at all), so
the headers cannot start the optimisation. The initialisation finds the head in both images (threshold, largest
connected component), slides the MR head's height along the CT head, and keeps the translation whose head masks
agree best (Dice inside the MR's field of view). It needs no intensity relationship between CT and MR, and it
handles an MR that covers only part of the CT's head and neck.

elastix's mutual information sees the CT without what the MR cannot show (couch, thermoplastic mask: made air) and
in a soft-tissue-to-bone window (:func:`ct_for_metric`); the outputs are resampled from the images as they are.

Every result carries a QC verdict (``report["qc"]``, see :mod:`hanseg.alignment`): ``pass``, ``warn`` or ``fail``,
from the distance between the CT's and the registered MR's skin surfaces inside the MR's field of view, with
thresholds from the config (``registration.qc``). A ``fail`` is the caller's to act on (:func:`check_qc`): the
command line exits 1, the workflow stops or leaves the case out (``registration.on_fail``), ``hanseg segment``
goes on with ``--force``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import alignment
from .atomic import write_text_atomic
from .errors import InputError
from .images import check_axial, index_box, largest_component, write_image

log = logging.getLogger(__name__)

#: CT threshold for "inside the head" (HU): above air, below every tissue.
CT_HEAD_HU = -400.0
#: Grid of the initialisation search (mm): coarse on purpose, the rigid stage refines it.
SEARCH_SPACING_MM = 4.0
SEARCH_STEP_MM = 5.0
#: The best translation must make the head masks agree voxel by voxel (head or background) in at least this fraction
#: of the MR's field of view to start the registration (after it, the QC of :mod:`hanseg.alignment` judges the
#: result). Only a gross mismatch should stop here. With the CT's patient mask (no couch, no thermoplastic mask), on
#: the 20 realistic pairs of bench/bench_registration_qc.py (tilts up to 15 degrees, MR fields of view of 220-260 mm
#: and 60-100 % of the head) good pairs reach 0.87-0.95, a bright slab in place of the MR's head at most 0.53: the bar
#: sits midway.
MIN_INITIAL_HEAD_AGREEMENT = 0.7
#: ...and overlap with a Dice of at least this (good pairs 0.74-0.89; the slab reaches 0.65, so this is only a floor).
MIN_INITIAL_HEAD_DICE = 0.4
#: elastix sees only the CT box that the MR covers after the initial translation, grown by this much (mm) on every
#: side: more than the rigid and B-spline stages move it. A real CT spans the shoulders, the couch and 500-800 mm
#: of air across; the MR covers a fraction of it, so the box costs a fraction of the time and memory.
CROP_MARGIN_MM = 40.0
#: The metric samples CT points at least this far (mm) inside the MR's field of view (after the initial translation).
FIXED_MASK_MARGIN_MM = 10.0
#: The B-spline stage is kept unless it lowers the NGF agreement of the rigid result by more than this, or moves the
#: skin surfaces apart by more than this (mm; a tenth of the QC grid's voxel).
DEFORMABLE_NGF_TOLERANCE = 0.0
DEFORMABLE_SKIN_TOLERANCE_MM = 0.2
#: elastix gets copies with in-plane pixels no finer than this (mm); see _elastix.
ELASTIX_MIN_PIXEL_MM = 1.0
#: The CT window (HU) that elastix's mutual information sees. Over the clipped CT's whole range (-1000 to 3000 HU) a
#: 32-bin histogram has 125 HU bins: fat (about -100 HU) and muscle (about +40), which T1 tells apart, share a bin or
#: two, and air and bone drive the metric. Measured on the 20 realistic pairs of bench/bench_registration_qc.py (rigid
#: stage): this window with the set-up objects made air (ct_for_metric), the initialisation on the patient mask
#: (ct_patient_mask) and 64 bins (rigid.txt) took the TRE from 0.95 to 0.80 mm (mean over pairs), and the worst
#: landmark from 5.5 to 2.0 mm. The window without removing the set-up objects made it worse (1.05 mm, 5.4 mm): the
#: thermoplastic mask (about 100 HU) then stands out.
METRIC_HU_WINDOW = (-500.0, 1000.0)
#: Grid (mm) on which the patient's outline is found for the metric's CT (see ct_for_metric).
BODY_GRID_MM = 2.0
#: Added to the MR before transformix: far above any MR magnitude (int16 files), exact in float32.
FOV_LIFT = 1.0e5


class RegistrationError(InputError, RuntimeError):
    """Registration input or result that cannot be trusted; the message names the case."""


class RegistrationQCError(InputError, RuntimeError):
    """A registration whose QC verdict is ``fail``: one line naming the case, the measure, its value, the threshold
    and the QC picture."""


@dataclass
class Initialisation:
    offset_mm: np.ndarray  # CT point + offset = MR point
    head_dice: float
    candidates: int
    head_agreement: float = 0.0


def _coarse(image: sitk.Image, spacing_mm: float, interpolator=sitk.sitkLinear, fill: float = 0.0) -> sitk.Image:
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


def ct_head_mask(ct: sitk.Image) -> sitk.Image:
    return largest_component(sitk.Cast(ct, sitk.sitkFloat32) > CT_HEAD_HU)


def mr_head_mask(mr: sitk.Image) -> sitk.Image:
    """Otsu separates the dark background from tissue in magnitude images; bias and noise do not upset it."""
    mr = sitk.Cast(mr, sitk.sitkFloat32)
    return largest_component(sitk.OtsuThreshold(mr, 0, 1, 128))


def _physical_points(mask: sitk.Image) -> np.ndarray:
    indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].astype(float)  # x, y, z
    direction = np.asarray(mask.GetDirection()).reshape(3, 3)
    return np.asarray(mask.GetOrigin()) + (indices * np.asarray(mask.GetSpacing())) @ direction.T


def _head_agreement(ct_head: np.ndarray, mr_head: np.ndarray, fov: np.ndarray) -> tuple[float, float]:
    """(Dice, fraction of agreeing voxels) of the two head masks inside the MR's field of view.

    Dice alone is fooled by an MR whose "head" fills its whole field of view; the agreement (head vs background,
    voxel by voxel) is not, because a real MR shows air around the head.
    """
    a, b = ct_head & fov, mr_head & fov
    total = a.sum() + b.sum()
    dice = float(2.0 * (a & b).sum() / total) if total else 0.0
    agreement = float((a == b)[fov].mean()) if fov.any() else 0.0
    return dice, agreement


def _dice_in_fov(ct_head: sitk.Image, mr_head: sitk.Image, mr_fov: sitk.Image, transform: sitk.Transform):
    moved = sitk.GetArrayFromImage(sitk.Resample(mr_head, ct_head, transform, sitk.sitkNearestNeighbor, 0)) > 0
    fov = sitk.GetArrayFromImage(sitk.Resample(mr_fov, ct_head, transform, sitk.sitkNearestNeighbor, 0)) > 0
    return _head_agreement(sitk.GetArrayViewFromImage(ct_head) > 0, moved, fov)


def _ones_like(image: sitk.Image, pixel_type: int) -> sitk.Image:
    """An image of ones on `image`'s grid: pushed through a transform, it marks the image's field of view."""
    return sitk.Cast(image * 0 + 1, pixel_type)


def ct_patient_mask(ct: sitk.Image) -> sitk.Image:
    """The patient in the CT without its set-up objects (uint8): :func:`hanseg.alignment.head_mask` of the voxels
    above :data:`CT_HEAD_HU` (couch, thermoplastic mask and frame opened away, largest component, filled).

    The couch and the mask touch the patient, so the largest component above the threshold (:func:`ct_head_mask`)
    carries them, and a slab of it is centred away from the head: on a pair of the realistic family (case_10) the
    initial translation was 33 mm off in z and the rigid stage ended at a TRE of 1.4 mm instead of 1.2 mm.
    """
    above = sitk.GetArrayViewFromImage(sitk.Cast(ct, sitk.sitkFloat32)) > CT_HEAD_HU
    patient = sitk.GetImageFromArray(alignment.head_mask(above, ct.GetSpacing()[::-1]).astype(np.uint8))
    patient.CopyInformation(ct)
    return patient


def _coarse_heads(ct: sitk.Image, mr: sitk.Image) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """CT head, MR head and MR field of view on the coarse search grid."""
    mr_coarse = _coarse(mr, SEARCH_SPACING_MM)
    return (
        ct_patient_mask(_coarse(ct, SEARCH_SPACING_MM, fill=-1000.0)),
        mr_head_mask(mr_coarse),
        _ones_like(mr_coarse, sitk.sitkUInt8),
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
        dice, agreement = _dice_in_fov(ct_head, mr_head, mr_fov, sitk.TranslationTransform(3, offset.tolist()))
        candidates += 1
        if dice > best.head_dice:
            best = Initialisation(offset, dice, 0, agreement)
    best.candidates = candidates
    return best


def header_translation(ct: sitk.Image, mr: sitk.Image) -> Initialisation:
    """Trust the headers (data already co-registered): zero translation, with the same head-overlap score."""
    ct_head, mr_head, mr_fov = _coarse_heads(ct, mr)
    dice, agreement = _dice_in_fov(ct_head, mr_head, mr_fov, sitk.TranslationTransform(3))
    return Initialisation(np.zeros(3), dice, 1, agreement)


def mutual_information(fixed: np.ndarray, moving: np.ndarray, bins: int = 32) -> float:
    """Mutual information (nats) of two equally shaped samples, from a joint histogram."""
    if fixed.size == 0:
        return float("nan")
    joint, _, _ = np.histogram2d(fixed.ravel(), moving.ravel(), bins=bins)
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] / (px @ py)[nonzero])).sum())


def _elastix_translation_file(path: Path, offset: np.ndarray, ct: sitk.Image) -> None:
    """An elastix TranslationTransform parameter file: the initial transform of the chain."""
    fmt = " ".join
    write_text_atomic(
        path,
        "\n".join(
            [
                '(Transform "TranslationTransform")',
                "(NumberOfParameters 3)",
                f"(TransformParameters {fmt(f'{v:.6f}' for v in offset)})",
                '(InitialTransformParameterFileName "NoInitialTransform")',
                '(HowToCombineTransforms "Compose")',
                "(FixedImageDimension 3)",
                "(MovingImageDimension 3)",
                '(FixedInternalImagePixelType "float")',
                '(MovingInternalImagePixelType "float")',
                f"(Size {fmt(str(v) for v in ct.GetSize())})",
                "(Index 0 0 0)",
                f"(Spacing {fmt(f'{v:.6f}' for v in ct.GetSpacing())})",
                f"(Origin {fmt(f'{v:.6f}' for v in ct.GetOrigin())})",
                f"(Direction {fmt(f'{v:.6f}' for v in ct.GetDirection())})",
                '(UseDirectionCosines "true")',
                '(ResampleInterpolator "FinalBSplineInterpolator")',
                "(FinalBSplineInterpolationOrder 3)",
                '(Resampler "DefaultResampler")',
                "(DefaultPixelValue 0)",
                '(ResultImageFormat "nrrd")',
                '(ResultImagePixelType "float")',
                "",
            ]
        ),
    )


def write_parameter_map(parameter_map: dict, path: Path) -> None:
    """elastix's text format: `(Key value ...)`, strings quoted, numbers bare."""

    def token(value: str) -> str:
        try:
            float(value)
            return value
        except ValueError:
            return f'"{value}"'

    lines = [f"({key} {' '.join(token(v) for v in values)})" for key, values in sorted(parameter_map.items())]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _transformix(
    moving: sitk.Image, fixed: sitk.Image, init_file: Path, result_parameters, *, order: int
) -> sitk.Image:
    import itk

    chain = itk.ParameterObject.New()
    chain.AddParameterFile(str(init_file))
    for i in range(result_parameters.GetNumberOfParameterMaps()):
        chain.AddParameterMap(result_parameters.GetParameterMap(i))
    for i in range(chain.GetNumberOfParameterMaps()):
        chain.SetParameter(i, "InitialTransformParameterFileName", "NoInitialTransform")
        chain.SetParameter(i, "FinalBSplineInterpolationOrder", str(order))
        for key, values in _grid_parameters(fixed).items():  # the output grid: `fixed`'s, whatever elastix saw
            chain.SetParameter(i, key, values)
    transformix = itk.TransformixFilter.New(_to_itk(moving))
    transformix.SetTransformParameterObject(chain)
    transformix.SetLogToConsole(False)
    transformix.UpdateLargestPossibleRegion()
    return _to_sitk(transformix.GetOutput(), fixed)


def _to_itk(image: sitk.Image):
    import itk

    converted = itk.image_from_array(sitk.GetArrayFromImage(image).astype(np.float32))
    converted.SetOrigin(image.GetOrigin())
    converted.SetSpacing(image.GetSpacing())
    converted.SetDirection(itk.matrix_from_array(np.asarray(image.GetDirection()).reshape(3, 3)))
    return converted


def _to_sitk(image, like: sitk.Image) -> sitk.Image:
    import itk

    converted = sitk.GetImageFromArray(itk.array_from_image(image))
    converted.CopyInformation(like)
    return converted


def crop_box(ct: sitk.Image, mr: sitk.Image, offset_mm: np.ndarray, margin_mm: float = CROP_MARGIN_MM):
    """(lower index, size) of the CT box holding the MR's extent after the initial translation, grown by
    `margin_mm`, clipped to the CT."""
    lower, upper = index_box(ct, mr, margin_mm, shift_mm=offset_mm)  # CT point + offset = MR point
    if any(b <= a for a, b in zip(lower, upper, strict=True)):
        raise RegistrationError("after the initial translation the MR lies outside the CT")
    return lower, [b - a for a, b in zip(lower, upper, strict=True)]


def _crop(image: sitk.Image, box) -> sitk.Image:
    lower, size = box
    return sitk.RegionOfInterest(image, [int(v) for v in size], [int(v) for v in lower])


def _paste(part: sitk.Image, full: sitk.Image, box, pixel_type: int) -> sitk.Image:
    """`part` (on the crop box) inside an image of zeros on `full`'s grid."""
    out = sitk.Image(full.GetSize(), pixel_type)
    out.CopyInformation(full)
    return sitk.Paste(out, sitk.Cast(part, pixel_type), part.GetSize(), [0, 0, 0], [int(v) for v in box[0]])


@dataclass
class RegistrationResult:
    mr_in_ct: sitk.Image
    fov_mask: sitk.Image
    report: dict
    transform_files: list[Path]


def register(
    ct: sitk.Image,
    mr: sitk.Image,
    parameter_files: list[Path | str],
    work_dir: Path | str,
    *,
    threads: int = 1,
    landmarks_ct: dict[str, np.ndarray] | None = None,
    landmarks_mr: dict[str, np.ndarray] | None = None,
    initialisation: str = "head_search",
    qc_thresholds: dict[str, float] | None = None,
    case: str = "",
) -> RegistrationResult:
    """Register MR to CT; elastix's transform files and log go into `work_dir` (TransformParameters.{init,0,1...}.txt,
    elastix.log), each file under its final name only once complete.

    The result carries the QC verdict (``report["qc"]``, thresholds `qc_thresholds` or the config's defaults); a
    ``fail`` is returned, not raised (see :func:`check_qc`). Errors (bad input, an MR that cannot be placed on the
    CT, elastix failing) raise, naming `case` when it is given.
    """
    try:
        return _register(
            ct,
            mr,
            parameter_files,
            work_dir,
            threads=threads,
            landmarks_ct=landmarks_ct,
            landmarks_mr=landmarks_mr,
            initialisation=initialisation,
            qc_thresholds=qc_thresholds,
        )
    except (RegistrationError, ValueError) as error:
        if not case:
            raise
        raise type(error)(f"{case}: {error}") from error


def _register(
    ct: sitk.Image,
    mr: sitk.Image,
    parameter_files: list[Path | str],
    work_dir: Path | str,
    *,
    threads: int,
    landmarks_ct: dict[str, np.ndarray] | None,
    landmarks_mr: dict[str, np.ndarray] | None,
    initialisation: str,
    qc_thresholds: dict[str, float] | None,
) -> RegistrationResult:
    started = time.perf_counter()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    thresholds = alignment.check_thresholds(qc_thresholds or alignment.default_thresholds())
    check_axial(ct, "CT")
    # The CT stays in its own pixel type: only the box elastix sees becomes float (a largest real CT is 212 M voxels).
    mr = sitk.Cast(mr, sitk.sitkFloat32)
    mr_range = sitk.MinimumMaximumImageFilter()
    mr_range.Execute(mr)
    if mr_range.GetMaximum() <= mr_range.GetMinimum():
        raise RegistrationError(f"the MR is empty (every voxel is {mr_range.GetMinimum():g})")

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
    if init.head_dice < MIN_INITIAL_HEAD_DICE or init.head_agreement < MIN_INITIAL_HEAD_AGREEMENT:
        raise RegistrationError(
            f"cannot place the MR's head in the CT: best head overlap Dice {init.head_dice:.2f} (needs "
            f"{MIN_INITIAL_HEAD_DICE}), voxel agreement {init.head_agreement:.2f} (needs {MIN_INITIAL_HEAD_AGREEMENT}) "
            f"over {init.candidates} positions; does the MR show the same patient and region?"
        )
    # elastix writes into a private folder (it writes its own TransformParameters files there as it goes); each
    # file reaches its final name in `work_dir` only once complete.
    scratch = Path(tempfile.mkdtemp(prefix=".elastix-", dir=work_dir))
    try:
        result = _elastix(ct, mr, init, parameter_files, scratch, threads, landmarks_ct, landmarks_mr, thresholds)
        final = []
        for path in result.transform_files:
            os.replace(path, work_dir / path.name)
            final.append(work_dir / path.name)
        result.transform_files = final
        result.report["seconds"] = round(time.perf_counter() - started, 2)
        return result
    finally:
        if (scratch / "elastix.log").is_file():
            os.replace(scratch / "elastix.log", work_dir / "elastix.log")
        shutil.rmtree(scratch, ignore_errors=True)


def _elastix(
    ct: sitk.Image,
    mr: sitk.Image,
    init: Initialisation,
    parameter_files: list[Path | str],
    work_dir: Path,
    threads: int,
    landmarks_ct: dict[str, np.ndarray] | None,
    landmarks_mr: dict[str, np.ndarray] | None,
    thresholds: dict[str, float],
) -> RegistrationResult:
    import itk

    init_file = work_dir / "TransformParameters.init.txt"
    # The files describe the whole CT's grid (transformix with them writes onto it); elastix works on the box.
    _elastix_translation_file(init_file, init.offset_mm, ct)
    full_ct = ct
    box = crop_box(full_ct, mr, init.offset_mm)
    ct = sitk.Cast(_crop(full_ct, box), sitk.sitkFloat32)

    # The metric samples only CT voxels that the MR covers after initialisation: the MR's field of view is much
    # smaller than the CT's, and samples mapping outside it would stop elastix ("too many samples map outside").
    ones = _ones_like(mr, sitk.sitkFloat32)
    initial_transform = sitk.TranslationTransform(3, init.offset_mm.tolist())
    initial_fov_image = sitk.Resample(ones, ct, initial_transform, sitk.sitkNearestNeighbor, 0.0, sitk.sitkUInt8)
    initial_fov = sitk.GetArrayFromImage(initial_fov_image) > 0
    initial_mr = sitk.Resample(mr, ct, initial_transform, sitk.sitkLinear, 0.0)

    parameters = itk.ParameterObject.New()
    for path in parameter_files:
        parameters.AddParameterFile(str(path))
    # elastix's finest levels work on 2x coarser copies in-plane (the parameter files' pyramids), yet it builds
    # every level from the image it is given: sub-millimetre pixels (the largest CTs: 0.56 mm, 1024 x 1024) are
    # averaged to ELASTIX_MIN_PIXEL_MM first. The transform is physical; the MR is still resampled from the original.
    fixed_image = _no_finer_than(ct_for_metric(ct), ELASTIX_MIN_PIXEL_MM)
    fixed, moving = _to_itk(fixed_image), _to_itk(_no_finer_than(mr, ELASTIX_MIN_PIXEL_MM))
    fixed_fov = sitk.Resample(ones, fixed_image, initial_transform, sitk.sitkNearestNeighbor, 0.0, sitk.sitkUInt8)
    method = itk.ElastixRegistrationMethod.New(fixed, moving)
    method.SetParameterObject(parameters)
    method.SetInitialTransformParameterFileName(str(init_file))
    # Shrunk from the MR's field-of-view border: a sample that a stage can push out of the MR is dropped from the
    # metric, and a deformable stage gains mutual information by dropping the samples that fit worst.
    margin = [max(1, int(round(FIXED_MASK_MARGIN_MM / s))) for s in fixed_image.GetSpacing()]
    sampled = sitk.BinaryErode(fixed_fov, margin, sitk.sitkBox)
    if sitk.GetArrayViewFromImage(sampled).sum() < 0.2 * sitk.GetArrayViewFromImage(fixed_fov).sum():
        sampled = fixed_fov  # a thin MR: keep what there is
    fixed_mask = itk.image_from_array(sitk.GetArrayFromImage(sampled).astype(np.uint8))
    fixed_mask.CopyInformation(fixed)
    method.SetFixedMask(fixed_mask)
    method.SetNumberOfThreads(int(threads))
    method.SetLogToConsole(False)
    method.SetLogToFile(True)
    method.SetOutputDirectory(str(work_dir))
    method.SetLogFileName("elastix.log")
    try:
        method.UpdateLargestPossibleRegion()
    except RuntimeError as error:
        raise RegistrationError(f"elastix failed: {str(error).strip().splitlines()[-1]}") from error

    result_parameters = method.GetTransformParameterObject()
    combined = method.GetCombinationTransform()
    mr_in_ct, fov_mask = _moved_mr(mr, ct, init_file, result_parameters)
    rigid = _rigid_stage(result_parameters, init.offset_mm)
    deformable = None
    if rigid is not None and _last_stage_is_bspline(result_parameters):
        # The B-spline stage maximises mutual information, whose optimum can lie away from the anatomy (coarse or
        # thick-sliced images, contrast that differs by region; on the phantoms it made every coarse pair worse). It
        # is kept only where two measures it did not optimise agree that it helped: the edges of the two images
        # agree no worse (normalised gradient fields) and the skin surfaces lie no farther apart than after the
        # rigid stage alone. Rejected, its coefficients are zeroed: the same files, the rigid result.
        without = _bspline_zeroed(result_parameters)
        mr_rigid, fov_rigid = _moved_mr(mr, ct, init_file, without)
        q_rigid = alignment.qc_images(ct, mr_rigid, fov_rigid)
        q_deformable = alignment.qc_images(ct, mr_in_ct, fov_mask)
        measured = {
            "ngf": (alignment.ngf(q_rigid), alignment.ngf(q_deformable)),
            "skin_distance_mm": (alignment.skin_distance_mm(q_rigid), alignment.skin_distance_mm(q_deformable)),
        }
        kept = (
            measured["ngf"][1] >= measured["ngf"][0] - DEFORMABLE_NGF_TOLERANCE
            and measured["skin_distance_mm"][1] <= measured["skin_distance_mm"][0] + DEFORMABLE_SKIN_TOLERANCE_MM
        )
        deformable = {
            "kept": bool(kept),
            **{f"{name}_rigid_only": round(v[0], 5) for name, v in measured.items()},
            **{f"{name}_with_bspline": round(v[1], 5) for name, v in measured.items()},
        }
        log.info("B-spline stage %s: %s", "kept" if kept else "rejected", deformable)
        if not kept:
            result_parameters, mr_in_ct, fov_mask, combined = without, mr_rigid, fov_rigid, rigid
        del mr_rigid, fov_rigid

    transform_files = []
    previous = init_file.name
    for i in range(result_parameters.GetNumberOfParameterMaps()):
        parameter_map = result_parameters.GetParameterMap(i)
        # Chain by file name, so the folder can move: run transformix from inside it.
        parameter_map["InitialTransformParameterFileName"] = [previous]
        path = work_dir / f"TransformParameters.{i}.txt"
        write_parameter_map({**dict(parameter_map), **_grid_parameters(full_ct)}, path)
        transform_files.append(path)
        previous = path.name

    ct_array = sitk.GetArrayViewFromImage(ct)
    fov = sitk.GetArrayViewFromImage(fov_mask) > 0
    fov_fraction = float(fov.mean())
    if fov.sum() == 0:
        raise RegistrationError("after registration the MR covers no CT voxel")
    mi_initial = mutual_information(ct_array[initial_fov], sitk.GetArrayViewFromImage(initial_mr)[initial_fov])
    mi_final = mutual_information(ct_array[fov], sitk.GetArrayViewFromImage(mr_in_ct)[fov])

    # The head masks' overlap, as the initialisation measures it (reported; the QC below judges the result).
    mr_head = sitk.GetArrayFromImage(mr_head_mask(mr_in_ct)) > 0
    ct_head = sitk.GetArrayFromImage(ct_head_mask(ct)) > 0
    final_dice, final_agreement = _head_agreement(ct_head, mr_head, fov)
    qc = alignment.assess(alignment.qc_images(ct, mr_in_ct, fov_mask), thresholds)
    log.info("registration QC %s: %s %s (thresholds %s)", qc["status"], qc["measure"], qc["value"], thresholds)

    report: dict = {
        "initial_translation_mm": [round(float(v), 3) for v in init.offset_mm],
        "head_dice": {"initial": round(init.head_dice, 4), "final": round(final_dice, 4)},
        "head_agreement": {"initial": round(init.head_agreement, 4), "final": round(final_agreement, 4)},
        "mutual_information": {"initial": round(mi_initial, 5), "final": round(mi_final, 5), "bins": 32},
        "fov_fraction_of_ct": round(fov_fraction, 5),
        "qc": qc,
        "parameter_files": [Path(p).name for p in parameter_files],
        # What elastix's metric saw of the CT (ct_for_metric): the set-up objects made air, this HU window.
        "metric_ct_hu_window": list(METRIC_HU_WINDOW),
        "threads": int(threads),
        # From the env that registered (the report's provenance page reads them from here).
        "versions": {name: metadata.version(name) for name in ("itk-elastix", "SimpleITK")},
    }
    if deformable is not None:
        report["bspline_stage"] = deformable
    if landmarks_ct is not None and landmarks_mr is not None:
        report["tre_mm"] = target_registration_error(combined, landmarks_ct, landmarks_mr)
        if rigid is not None and result_parameters.GetNumberOfParameterMaps() > 1:
            # The same landmarks after the initial translation and the rigid stage alone (the B-spline stage must
            # not make a pair worse than that).
            report["tre_mm_rigid_only"] = target_registration_error(rigid, landmarks_ct, landmarks_mr)
    report["crop_box"] = {"index": [int(v) for v in box[0]], "size": [int(v) for v in box[1]]}
    # MR magnitudes are integers in the source files: the result is rounded to int16 on the box, then pasted (half
    # the memory of a float copy of the whole CT grid, and what write_outputs stores).
    mr_rounded = sitk.Cast(sitk.Round(sitk.Clamp(mr_in_ct, sitk.sitkFloat32, 0.0, 32767.0)), sitk.sitkInt16)
    return RegistrationResult(
        _paste(mr_rounded, full_ct, box, sitk.sitkInt16),
        _paste(fov_mask, full_ct, box, sitk.sitkUInt8),
        report,
        [init_file, *transform_files],
    )


def ct_for_metric(ct: sitk.Image) -> sitk.Image:
    """The CT as elastix's metric sees it (float32): the set-up objects outside the patient made air, then the HU
    windowed to :data:`METRIC_HU_WINDOW`.

    A radiotherapy CT shows the couch, the thermoplastic mask and its frame, none of which is in the MR; mutual
    information pairs them with the MR's air and they pull the optimum. Everything outside :func:`ct_patient_mask`,
    found on a :data:`BODY_GRID_MM` grid and grown by one of its voxels so that the skin edge stays whole, becomes air.
    """
    ct = sitk.Cast(ct, sitk.sitkFloat32)
    air, top = METRIC_HU_WINDOW
    patient = sitk.BinaryDilate(ct_patient_mask(_coarse(ct, BODY_GRID_MM, fill=-1000.0)), [1, 1, 1])
    inside = sitk.Resample(patient, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.Clamp(sitk.Mask(ct, inside, outsideValue=air), sitk.sitkFloat32, air, top)


def _no_finer_than(image: sitk.Image, pixel_mm: float) -> sitk.Image:
    """`image` with in-plane pixels of at least `pixel_mm` (averaged: Gaussian, then linear), slices unchanged."""
    spacing = np.asarray(image.GetSpacing(), float)
    target = spacing.copy()
    target[:2] = np.maximum(spacing[:2], pixel_mm)
    if np.allclose(target, spacing):
        return image
    sigmas = [math.sqrt(max(t * t - s * s, 0.0)) / 2.0 for s, t in zip(spacing, target, strict=True)]
    smooth = sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32), [max(v, 1e-3) for v in sigmas])
    size = [max(2, int(round(n * s / t))) for n, s, t in zip(image.GetSize(), spacing, target, strict=True)]
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing(target.tolist())
    reference.SetDirection(image.GetDirection())
    reference.SetOrigin(image.TransformContinuousIndexToPhysicalPoint((-0.5 + 0.5 * target / spacing).tolist()))
    return sitk.Resample(smooth, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def _moved_mr(mr: sitk.Image, ct: sitk.Image, init_file: Path, result_parameters) -> tuple[sitk.Image, sitk.Image]:
    """The MR and its field of view on `ct`'s grid through the chain (initial translation first), in one pass.

    transformix (cubic) with the whole chain in one parameter object, so nothing depends on elastix's file
    chaining. The MR lifted by a constant far above its range comes back as zero (transformix's default value)
    exactly where it has no data: that is its field of view.
    """
    lifted = _transformix(mr + FOV_LIFT, ct, init_file, result_parameters, order=3)
    fov_mask = sitk.Cast(lifted > 0.5 * FOV_LIFT, sitk.sitkUInt8)
    return sitk.Mask(sitk.Maximum(lifted - FOV_LIFT, 0.0), fov_mask), fov_mask  # no undershoot


def _last_stage_is_bspline(result_parameters) -> bool:
    count = result_parameters.GetNumberOfParameterMaps()
    return count > 1 and result_parameters.GetParameterMap(count - 1)["Transform"][0] == "BSplineTransform"


def _bspline_zeroed(result_parameters):
    """A copy of the chain whose last (B-spline) stage is the identity: every coefficient zero."""
    import itk

    copy = itk.ParameterObject.New()
    for i in range(result_parameters.GetNumberOfParameterMaps()):
        copy.AddParameterMap(result_parameters.GetParameterMap(i))
    last = copy.GetNumberOfParameterMaps() - 1
    count = len(copy.GetParameterMap(last)["TransformParameters"])
    copy.SetParameter(last, "TransformParameters", ["0"] * count)
    return copy


def _grid_parameters(image: sitk.Image) -> dict[str, list[str]]:
    """The output-grid entries of an elastix parameter map for `image`'s grid."""
    return {
        "Size": [str(v) for v in image.GetSize()],
        "Index": ["0", "0", "0"],
        "Spacing": [f"{v:.6f}" for v in image.GetSpacing()],
        "Origin": [f"{v:.6f}" for v in image.GetOrigin()],
        "Direction": [f"{v:.6f}" for v in image.GetDirection()],
    }


def _rigid_stage(result_parameters, offset_mm: np.ndarray) -> sitk.Transform | None:
    """The initial translation followed by the first stage when that is elastix's EulerTransform, else None.

    elastix composes its stages (``HowToCombineTransforms "Compose"``): a CT point goes through the initial
    translation first, then the rigid stage.
    """
    parameter_map = result_parameters.GetParameterMap(0)
    if parameter_map["Transform"][0] != "EulerTransform":
        return None
    values = [float(v) for v in parameter_map["TransformParameters"]]
    euler = sitk.Euler3DTransform()
    euler.SetCenter([float(v) for v in parameter_map["CenterOfRotationPoint"]])
    euler.SetComputeZYX(parameter_map.get("ComputeZYX", ["false"])[0] == "true")
    euler.SetRotation(*values[:3])
    euler.SetTranslation(values[3:6])
    # CompositeTransform applies its list last-first: the translation, then the rigid stage.
    return sitk.CompositeTransform([euler, sitk.TranslationTransform(3, [float(v) for v in offset_mm])])


def target_registration_error(transform, landmarks_ct: dict, landmarks_mr: dict) -> dict:
    """Distances (mm) between CT landmarks mapped through the CT -> MR transform and their MR partners."""
    names = sorted(set(landmarks_ct) & set(landmarks_mr))
    if not names:
        raise ValueError("no landmark names in common between the CT and MR landmark files")
    distances = {
        name: float(
            np.linalg.norm(
                np.asarray(transform.TransformPoint([float(v) for v in landmarks_ct[name]])) - landmarks_mr[name]
            )
        )
        for name in names
    }
    values = np.array(list(distances.values()))
    return {
        "mean": round(float(values.mean()), 4),
        "sd": round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4),
        "max": round(float(values.max()), 4),
        "per_landmark": {k: round(v, 4) for k, v in distances.items()},
    }


def check_qc(report: dict, case: str, qc_png: Path | str) -> str:
    """The QC status of a registration report; RegistrationQCError (one line) when it is ``fail``."""
    qc = report.get("qc")
    if qc is None:  # a report written before the QC existed passed the old plausibility gate
        return "pass"
    if qc["status"] == "fail":
        raise RegistrationQCError(alignment.fail_message(case, qc, qc_png))
    return str(qc["status"])


def write_outputs(
    result: RegistrationResult,
    out_dir: Path | str,
    qc_png: Path | str | None = None,
    ct: sitk.Image | None = None,
    title: str = "",
) -> None:
    out_dir = Path(out_dir)
    # MR magnitudes are integers in the source files; rounding the resampled values halves the file size.
    mr = result.mr_in_ct
    if mr.GetPixelID() != sitk.sitkInt16:
        mr = sitk.Cast(sitk.Round(sitk.Clamp(mr, sitk.sitkFloat32, 0.0, 32767.0)), sitk.sitkInt16)
    write_image(mr, out_dir / "mr_in_ct.nrrd")
    write_image(result.fov_mask, out_dir / "fov_mask.nrrd")
    if qc_png is not None and ct is not None:
        from .qc import registration_qc

        registration_qc(ct, result.mr_in_ct, result.fov_mask, qc_png, title=title, report=result.report)
    write_text_atomic(out_dir / "registration.json", json.dumps(result.report, indent=2) + "\n")
