"""Running elastix and transformix (itk-elastix) for :func:`hanseg.registration.mr_to_ct.register`.

The CT is the fixed image (the organs are drawn on it) and the MR the moving one, so the result transform maps a CT
point to the MR point of the same anatomy, as elastix's transforms always map fixed to moving. elastix sees only the
CT box that the MR covers after the initial translation (:func:`crop_box`), samples only CT points well inside the
MR's field of view (:func:`fixed_mask`), and its mutual information sees the CT without what the MR cannot show
(couch, thermoplastic mask: made air) and in a soft-tissue-to-bone window (:func:`ct_for_metric`). A B-spline stage
is kept only where two measures it did not optimise agree that it helped (:func:`keep_bspline`). The transform files
are chained by file name (:func:`write_chain`); the MR and its field of view are resampled from the images as they
are, in one transformix pass (:func:`moved_mr`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core.atomic import write_text_atomic
from hanseg.core.images import index_box
from hanseg.registration import qc_measures
from hanseg.registration.errors import RegistrationError
from hanseg.registration.head_masks import ct_patient_mask
from hanseg.registration.initialisation import Initialisation, coarse, ones_like

log = logging.getLogger(__name__)

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
#: elastix gets copies with in-plane pixels no finer than this (mm); see elastix_method.
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
#: Bins of the reported mutual information (:func:`mutual_information`).
MI_BINS = 32


@dataclass
class ElastixRun:
    """What elastix gave, on the crop box of the CT (:func:`crop_box`)."""

    #: The CT on the box (float32), and the box: (lower index, size) in the whole CT.
    ct: sitk.Image
    box: tuple
    #: The MR and its field of view on the box, through the kept chain.
    mr_in_ct: sitk.Image
    fov_mask: sitk.Image
    #: CT -> MR through the kept chain, and through the initial translation and the rigid stage alone (or None).
    combined: sitk.Transform
    rigid: sitk.Transform | None
    stages: int
    #: The initial translation's transform file, then one per stage (in the work folder).
    transform_files: list[Path]
    #: The B-spline stage's keep decision (:func:`keep_bspline`), None without one.
    deformable: dict | None = None


def mutual_information(fixed: np.ndarray, moving: np.ndarray, bins: int = MI_BINS) -> float:
    """Mutual information (nats) of two equally shaped samples, from a joint histogram."""
    if fixed.size == 0:
        return float("nan")
    joint, _, _ = np.histogram2d(fixed.ravel(), moving.ravel(), bins=bins)
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] / (px @ py)[nonzero])).sum())


def mutual_informations(run: ElastixRun, mr: sitk.Image, init: Initialisation) -> tuple[float, float]:
    """Mutual information of the CT box with the MR after the initial translation, and after the registration,
    each inside the MR's field of view there."""
    initial_transform = sitk.TranslationTransform(3, init.offset_mm.tolist())
    ones = ones_like(mr, sitk.sitkFloat32)
    initial_fov_image = sitk.Resample(ones, run.ct, initial_transform, sitk.sitkNearestNeighbor, 0.0, sitk.sitkUInt8)
    initial_fov = sitk.GetArrayFromImage(initial_fov_image) > 0
    initial_mr = sitk.Resample(mr, run.ct, initial_transform, sitk.sitkLinear, 0.0)
    ct_array = sitk.GetArrayViewFromImage(run.ct)
    fov = sitk.GetArrayViewFromImage(run.fov_mask) > 0
    return (
        mutual_information(ct_array[initial_fov], sitk.GetArrayViewFromImage(initial_mr)[initial_fov]),
        mutual_information(ct_array[fov], sitk.GetArrayViewFromImage(run.mr_in_ct)[fov]),
    )


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
    transformix = itk.TransformixFilter.New(to_itk(moving))
    transformix.SetTransformParameterObject(chain)
    transformix.SetLogToConsole(False)
    transformix.UpdateLargestPossibleRegion()
    return _to_sitk(transformix.GetOutput(), fixed)


def to_itk(image: sitk.Image):
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


def paste(part: sitk.Image, full: sitk.Image, box, pixel_type: int) -> sitk.Image:
    """`part` (on the crop box) inside an image of zeros on `full`'s grid."""
    out = sitk.Image(full.GetSize(), pixel_type)
    out.CopyInformation(full)
    return sitk.Paste(out, sitk.Cast(part, pixel_type), part.GetSize(), [0, 0, 0], [int(v) for v in box[0]])


def ct_for_metric(ct: sitk.Image) -> sitk.Image:
    """The CT as elastix's metric sees it (float32): the set-up objects outside the patient made air, then the HU
    windowed to :data:`METRIC_HU_WINDOW`.

    A radiotherapy CT shows the couch, the thermoplastic mask and its frame, none of which is in the MR; mutual
    information pairs them with the MR's air and they pull the optimum. Everything outside :func:`ct_patient_mask`,
    found on a :data:`BODY_GRID_MM` grid and grown by one of its voxels so that the skin edge stays whole, becomes air.
    """
    ct = sitk.Cast(ct, sitk.sitkFloat32)
    air, top = METRIC_HU_WINDOW
    patient = sitk.BinaryDilate(ct_patient_mask(coarse(ct, BODY_GRID_MM, fill=-1000.0)), [1, 1, 1])
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


def fixed_mask(fixed_image: sitk.Image, mr: sitk.Image, offset_mm: np.ndarray) -> sitk.Image:
    """Where elastix's metric samples the CT (uint8 on `fixed_image`'s grid): the MR's field of view after the
    initial translation, shrunk by :data:`FIXED_MASK_MARGIN_MM`.

    The MR's field of view is much smaller than the CT's, and samples mapping outside it would stop elastix ("too
    many samples map outside"). Shrunk from its border: a sample that a stage can push out of the MR is dropped from
    the metric, and a deformable stage gains mutual information by dropping the samples that fit worst.
    """
    initial_transform = sitk.TranslationTransform(3, offset_mm.tolist())
    ones = ones_like(mr, sitk.sitkFloat32)
    fixed_fov = sitk.Resample(ones, fixed_image, initial_transform, sitk.sitkNearestNeighbor, 0.0, sitk.sitkUInt8)
    margin = [max(1, int(round(FIXED_MASK_MARGIN_MM / s))) for s in fixed_image.GetSpacing()]
    sampled = sitk.BinaryErode(fixed_fov, margin, sitk.sitkBox)
    if sitk.GetArrayViewFromImage(sampled).sum() < 0.2 * sitk.GetArrayViewFromImage(fixed_fov).sum():
        sampled = fixed_fov  # a thin MR: keep what there is
    return sampled


def elastix_method(ct: sitk.Image, mr: sitk.Image, offset_mm, parameter_files, init_file: Path, work_dir, threads):
    """elastix set up on the CT box `ct` (as the metric sees it) and the MR, from the initial translation's file.

    elastix's finest levels work on 2x coarser copies in-plane (the parameter files' pyramids), yet it builds every
    level from the image it is given: sub-millimetre pixels (the largest CTs: 0.56 mm, 1024 x 1024) are averaged to
    :data:`ELASTIX_MIN_PIXEL_MM` first. The transform is physical; the MR is still resampled from the original.
    """
    import itk

    parameters = itk.ParameterObject.New()
    for path in parameter_files:
        parameters.AddParameterFile(str(path))
    fixed_image = _no_finer_than(ct_for_metric(ct), ELASTIX_MIN_PIXEL_MM)
    fixed, moving = to_itk(fixed_image), to_itk(_no_finer_than(mr, ELASTIX_MIN_PIXEL_MM))
    method = itk.ElastixRegistrationMethod.New(fixed, moving)
    method.SetParameterObject(parameters)
    method.SetInitialTransformParameterFileName(str(init_file))
    mask = itk.image_from_array(sitk.GetArrayFromImage(fixed_mask(fixed_image, mr, offset_mm)).astype(np.uint8))
    mask.CopyInformation(fixed)
    method.SetFixedMask(mask)
    method.SetNumberOfThreads(int(threads))
    method.SetLogToConsole(False)
    method.SetLogToFile(True)
    method.SetOutputDirectory(str(work_dir))
    method.SetLogFileName("elastix.log")
    return method


def moved_mr(mr: sitk.Image, ct: sitk.Image, init_file: Path, result_parameters) -> tuple[sitk.Image, sitk.Image]:
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


def keep_bspline(run: ElastixRun, mr: sitk.Image, init_file: Path, result_parameters):
    """The B-spline stage's keep decision: `run` as it is when kept, else with the rigid result (the same files, the
    B-spline coefficients zeroed); and the chain to write.

    The B-spline stage maximises mutual information, whose optimum can lie away from the anatomy (coarse or
    thick-sliced images, contrast that differs by region; on the phantoms it made every coarse pair worse). It is
    kept only where two measures it did not optimise agree that it helped: the edges of the two images agree no
    worse (normalised gradient fields) and the skin surfaces lie no farther apart than after the rigid stage alone.
    """
    without = _bspline_zeroed(result_parameters)
    mr_rigid, fov_rigid = moved_mr(mr, run.ct, init_file, without)
    q_rigid = qc_measures.qc_images(run.ct, mr_rigid, fov_rigid)
    q_deformable = qc_measures.qc_images(run.ct, run.mr_in_ct, run.fov_mask)
    measured = {
        "ngf": (qc_measures.ngf(q_rigid), qc_measures.ngf(q_deformable)),
        "skin_distance_mm": (qc_measures.skin_distance_mm(q_rigid), qc_measures.skin_distance_mm(q_deformable)),
    }
    kept = (
        measured["ngf"][1] >= measured["ngf"][0] - DEFORMABLE_NGF_TOLERANCE
        and measured["skin_distance_mm"][1] <= measured["skin_distance_mm"][0] + DEFORMABLE_SKIN_TOLERANCE_MM
    )
    run.deformable = {
        "kept": bool(kept),
        **{f"{name}_rigid_only": round(v[0], 5) for name, v in measured.items()},
        **{f"{name}_with_bspline": round(v[1], 5) for name, v in measured.items()},
    }
    log.info("B-spline stage %s: %s", "kept" if kept else "rejected", run.deformable)
    if kept:
        return result_parameters
    run.mr_in_ct, run.fov_mask, run.combined = mr_rigid, fov_rigid, run.rigid
    return without


def _grid_parameters(image: sitk.Image) -> dict[str, list[str]]:
    """The output-grid entries of an elastix parameter map for `image`'s grid."""
    return {
        "Size": [str(v) for v in image.GetSize()],
        "Index": ["0", "0", "0"],
        "Spacing": [f"{v:.6f}" for v in image.GetSpacing()],
        "Origin": [f"{v:.6f}" for v in image.GetOrigin()],
        "Direction": [f"{v:.6f}" for v in image.GetDirection()],
    }


def write_chain(result_parameters, init_file: Path, work_dir: Path, full_ct: sitk.Image) -> list[Path]:
    """The stages' transform files (``TransformParameters.<i>.txt`` in `work_dir`), each describing the whole CT's
    grid and chained by file name to the one before (the first to `init_file`), so that the folder can move: run
    transformix from inside it."""
    transform_files = []
    previous = init_file.name
    for i in range(result_parameters.GetNumberOfParameterMaps()):
        parameter_map = result_parameters.GetParameterMap(i)
        parameter_map["InitialTransformParameterFileName"] = [previous]
        path = work_dir / f"TransformParameters.{i}.txt"
        write_parameter_map({**dict(parameter_map), **_grid_parameters(full_ct)}, path)
        transform_files.append(path)
        previous = path.name
    return transform_files


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


def run_elastix(
    full_ct: sitk.Image, mr: sitk.Image, init: Initialisation, parameter_files, work_dir: Path, threads: int
) -> ElastixRun:
    """elastix from the initial translation on the CT box the MR covers; the transform files (describing the whole
    CT's grid) and elastix.log go into `work_dir`."""
    init_file = work_dir / "TransformParameters.init.txt"
    _elastix_translation_file(init_file, init.offset_mm, full_ct)
    box = crop_box(full_ct, mr, init.offset_mm)
    ct = sitk.Cast(_crop(full_ct, box), sitk.sitkFloat32)
    method = elastix_method(ct, mr, init.offset_mm, parameter_files, init_file, work_dir, threads)
    try:
        method.UpdateLargestPossibleRegion()
    except RuntimeError as error:
        raise RegistrationError(f"elastix failed: {str(error).strip().splitlines()[-1]}") from error
    result_parameters = method.GetTransformParameterObject()
    mr_in_ct, fov_mask = moved_mr(mr, ct, init_file, result_parameters)
    rigid = _rigid_stage(result_parameters, init.offset_mm)
    run = ElastixRun(ct, box, mr_in_ct, fov_mask, method.GetCombinationTransform(), rigid, 0, [], None)
    if rigid is not None and _last_stage_is_bspline(result_parameters):
        result_parameters = keep_bspline(run, mr, init_file, result_parameters)
    run.stages = result_parameters.GetNumberOfParameterMaps()
    run.transform_files = [init_file, *write_chain(result_parameters, init_file, work_dir, full_ct)]
    return run
