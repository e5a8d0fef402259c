"""MR-to-CT registration with elastix (itk-elastix): :func:`register` runs the stages and returns the result.

The initial translation places the MR's head on the CT's (:mod:`hanseg.registration.initialisation`: the headers
share no coordinates); elastix refines it with the configured stages (rigid by default; the paper's B-spline stage
optional: :mod:`hanseg.registration.elastix`); the report holds the head masks' overlap
(:mod:`hanseg.registration.head_masks`), the mutual information, the TRE where landmarks are known, and the QC
verdict (``report["qc"]``, :mod:`hanseg.registration.qc_measures`): ``pass``, ``warn`` or ``fail``, with thresholds
from the config (``registration.qc``). A ``fail`` is the caller's to act on, through
:mod:`hanseg.registration.qc_verdict`: the command line exits 1, the workflow stops or leaves the case out
(``registration.on_fail``), ``hanseg segment`` goes on with ``--force``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core.errors import DiskError, disk_full_cause
from hanseg.core.images import check_axial
from hanseg.core.timing import Stopwatch
from hanseg.registration import qc_measures
from hanseg.registration.elastix import (
    METRIC_HU_WINDOW,
    MI_BINS,
    ElastixRun,
    mutual_informations,
    paste,
    run_elastix,
)
from hanseg.registration.errors import RegistrationError
from hanseg.registration.head_masks import ct_head_mask, mask_agreement, mr_head_mask
from hanseg.registration.initialisation import Initialisation, place_head

log = logging.getLogger(__name__)

#: elastix's private folder inside the registration's folder, while it runs.
SCRATCH_PREFIX = ".elastix-"


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
    ``fail`` is returned, not raised (see :func:`hanseg.registration.qc_verdict.check_qc`). Errors (bad input, an MR
    that cannot be placed on the CT, elastix failing) raise, naming `case` when it is given.
    """
    try:
        return _register(
            ct,
            mr,
            parameter_files,
            work_dir,
            threads=threads,
            landmarks=(landmarks_ct, landmarks_mr) if landmarks_ct is not None and landmarks_mr is not None else None,
            initialisation=initialisation,
            qc_thresholds=qc_thresholds,
        )
    except (RegistrationError, ValueError) as error:
        if not case:
            raise
        raise type(error)(f"{case}: {error}") from error


def _checked_mr(ct: sitk.Image, mr: sitk.Image) -> sitk.Image:
    """The MR as float32, after the checks that need no registration (an axial CT, an MR that is not empty)."""
    check_axial(ct, "CT")
    # The CT stays in its own pixel type: only the box elastix sees becomes float (a largest real CT is 212 M voxels).
    mr = sitk.Cast(mr, sitk.sitkFloat32)
    mr_range = sitk.MinimumMaximumImageFilter()
    mr_range.Execute(mr)
    if mr_range.GetMaximum() <= mr_range.GetMinimum():
        raise RegistrationError(f"the MR is empty (every voxel is {mr_range.GetMinimum():g})")
    return mr


def _register(
    ct: sitk.Image,
    mr: sitk.Image,
    parameter_files: list[Path | str],
    work_dir: Path | str,
    *,
    threads: int,
    landmarks: tuple[dict, dict] | None,
    initialisation: str,
    qc_thresholds: dict[str, float] | None,
) -> RegistrationResult:
    watch = Stopwatch(log, "registration")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    thresholds = qc_measures.check_thresholds(qc_thresholds or qc_measures.default_thresholds())
    mr = _checked_mr(ct, mr)
    with watch("initialisation"):
        init = place_head(ct, mr, initialisation)
    # elastix writes into a private folder (it writes its own TransformParameters files there as it goes); each
    # file reaches its final name in `work_dir` only once complete.
    for stale in work_dir.glob(f"{SCRATCH_PREFIX}*"):  # a killed registration's (its clean-up never ran)
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=work_dir))
    try:
        with watch("elastix and transformix"):
            run = run_elastix(ct, mr, init, parameter_files, scratch, threads)
        if cause := disk_full_cause(scratch):  # elastix may leave its files short without an error
            raise DiskError(work_dir, cause)
        with watch("QC and report"):
            report = _report(run, mr, init, parameter_files, thresholds, threads, landmarks)
        # MR magnitudes are integers in the source files: the result is rounded to int16 on the box, then pasted
        # (half the memory of a float copy of the whole CT grid, and what the job stores).
        mr_rounded = sitk.Cast(sitk.Round(sitk.Clamp(run.mr_in_ct, sitk.sitkFloat32, 0.0, 32767.0)), sitk.sitkInt16)
        result = RegistrationResult(
            paste(mr_rounded, ct, run.box, sitk.sitkInt16),
            paste(run.fov_mask, ct, run.box, sitk.sitkUInt8),
            report,
            [],
        )
        for path in run.transform_files:
            os.replace(path, work_dir / path.name)
            result.transform_files.append(work_dir / path.name)
        result.report["seconds"] = round(watch.total(), 2)
        return result
    except DiskError as error:  # named by the folder the registration writes to, not its private scratch folder
        raise DiskError(work_dir, error.cause) from error
    finally:
        if (scratch / "elastix.log").is_file():
            os.replace(scratch / "elastix.log", work_dir / "elastix.log")
        shutil.rmtree(scratch, ignore_errors=True)


def _report(
    run: ElastixRun,
    mr: sitk.Image,
    init: Initialisation,
    parameter_files: list[Path | str],
    thresholds: dict,
    threads: int,
    landmarks: tuple[dict, dict] | None,
) -> dict:
    """``registration.json`` (less its ``seconds``): what was done and how well it went, the QC verdict included."""
    fov = sitk.GetArrayViewFromImage(run.fov_mask) > 0
    if fov.sum() == 0:
        raise RegistrationError("after registration the MR covers no CT voxel")
    mi_initial, mi_final = mutual_informations(run, mr, init)
    # The head masks' overlap, as the initialisation measures it (reported; the QC below judges the result).
    mr_head = sitk.GetArrayFromImage(mr_head_mask(run.mr_in_ct)) > 0
    ct_head = sitk.GetArrayFromImage(ct_head_mask(run.ct)) > 0
    final_dice, final_agreement = mask_agreement(ct_head, mr_head, fov)
    qc = qc_measures.assess(qc_measures.qc_images(run.ct, run.mr_in_ct, run.fov_mask), thresholds)
    log.info("registration QC %s: %s %s (thresholds %s)", qc["status"], qc["measure"], qc["value"], thresholds)
    report: dict = {
        "initial_translation_mm": [round(float(v), 3) for v in init.offset_mm],
        "head_dice": {"initial": round(init.head_dice, 4), "final": round(final_dice, 4)},
        "head_agreement": {"initial": round(init.head_agreement, 4), "final": round(final_agreement, 4)},
        "mutual_information": {"initial": round(mi_initial, 5), "final": round(mi_final, 5), "bins": MI_BINS},
        "fov_fraction_of_ct": round(float(fov.mean()), 5),
        "qc": qc,
        "parameter_files": [Path(p).name for p in parameter_files],
        # What elastix's metric saw of the CT (ct_for_metric): the set-up objects made air, this HU window.
        "metric_ct_hu_window": list(METRIC_HU_WINDOW),
        "threads": int(threads),
        # From the env that registered (the report's provenance page reads them from here).
        "versions": {name: metadata.version(name) for name in ("itk-elastix", "SimpleITK")},
    }
    if run.deformable is not None:
        report["bspline_stage"] = run.deformable
    if landmarks is not None:
        report["tre_mm"] = target_registration_error(run.combined, *landmarks)
        if run.rigid is not None and run.stages > 1:
            # The same landmarks after the initial translation and the rigid stage alone (the B-spline stage must
            # not make a pair worse than that).
            report["tre_mm_rigid_only"] = target_registration_error(run.rigid, *landmarks)
    report["crop_box"] = {"index": [int(v) for v in run.box[0]], "size": [int(v) for v in run.box[1]]}
    return report


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
