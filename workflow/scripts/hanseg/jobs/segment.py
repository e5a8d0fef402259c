"""`hanseg segment`: a trained model applied to a new CT (and T1 MR), the result on the CT's own grid.

The case is prepared exactly as the model's training cases were, by the workflow's own functions and with the
values the model folder records (:mod:`hanseg.nnunet.model`): the CT clipped to the model's HU range
(:func:`hanseg.core.images.clip_intensity`); the MR registered onto the clipped CT
(:func:`hanseg.registration.mr_to_ct.register`, the model's elastix parameters and initialisation) and stored as the
workflow stores it (:func:`hanseg.jobs.registration.write_registration`); everything resampled onto the model's grid
(:func:`hanseg.preprocessing.resampling.resample_case`: spacing, HU clip, body crop); the channels made as for training
(:mod:`hanseg.nnunet.channels`); nnU-Net predicts with the model's trainer and the checkpoint's mirroring axes
(left-right never); and :mod:`hanseg.preprocessing.backmap` brings the result onto the original CT's grid. The label map
(uint8, ids 1..30, names in the header) and a 3D Slicer segmentation beside it come from :mod:`hanseg.core.label_files`.

Registration QC: :func:`~hanseg.registration.mr_to_ct.register` returns every result it could compute with its QC
verdict (``report["qc"]["status"]``, the default thresholds of the config's ``registration.qc``). A ``fail`` stops the
command, naming the MR, the measure, its value and the threshold; ``force`` goes on with it (a ``warn`` is
logged). An MR that cannot be placed on the CT at all stops the command even with ``force``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.core.defaults import BACKMAP, NNUNET_DEVICE, PACKAGED_PREFIX, resolve_data_files
from hanseg.core.errors import InputError
from hanseg.core.images import Grid, check_axial, clip_intensity, read_image, write_image
from hanseg.core.label_files import slicer_path, write_label_files
from hanseg.core.timing import Stopwatch
from hanseg.jobs.registration import RegistrationFiles, write_registration
from hanseg.nnunet.apply import predict
from hanseg.nnunet.channels import given_channels, read_channels
from hanseg.nnunet.model import Model, check_inputs, read_model
from hanseg.nnunet.postprocessing import apply_to_image, model_decision
from hanseg.nnunet.predict import Predictor
from hanseg.nnunet.train import resolve_device
from hanseg.preprocessing.backmap import check_method, onto_grid
from hanseg.registration.errors import RegistrationError, RegistrationQCError
from hanseg.registration.head_masks import CT_HEAD_HU, ct_head_mask
from hanseg.registration.mr_to_ct import register
from hanseg.registration.qc_verdict import qc_status

log = logging.getLogger(__name__)

#: A CT "has a head" when its head (the registration's: the largest connected tissue above CT_HEAD_HU), found at
#: about 4 mm, holds at least this volume.
MIN_HEAD_ML = 500.0
HEAD_CHECK_MM = 4.0


def check_head(ct: sitk.Image, name: str) -> float:
    """The head's volume (mL), as the registration finds the head; InputError naming the CT if there is none."""
    factors = [max(1, int(round(HEAD_CHECK_MM / s))) for s in ct.GetSpacing()]
    head = ct_head_mask(sitk.BinShrink(sitk.Cast(ct, sitk.sitkFloat32), factors))
    volume_ml = float(sitk.GetArrayViewFromImage(head).sum()) * float(np.prod(head.GetSpacing())) / 1000.0
    if volume_ml < MIN_HEAD_ML:
        raise InputError(
            f"{name}: no head in this CT: the largest connected tissue above {CT_HEAD_HU:g} HU is {volume_ml:.0f} mL "
            f"(a head holds several litres; at least {MIN_HEAD_ML:g} mL needed); pass the patient's head-and-neck CT "
            "in Hounsfield units"
        )
    return volume_ml


def elastix_parameter_files(model: Model, folder: Path) -> list[Path]:
    """The model's elastix parameter files: their recorded text written into `folder`, or the workflow's own files
    of the recorded names (records written before the text was recorded)."""
    registration = model.record["registration"]
    texts = registration.get("parameters") or {}
    paths = []
    for name in registration["parameter_files"]:
        if name in texts:
            path = folder / Path(str(name).removeprefix(PACKAGED_PREFIX)).name
            write_text_atomic(path, texts[name])
        else:
            (path,) = resolve_data_files([name], what=f"{model.folder}: the model's elastix parameter file")
        paths.append(path)
    return paths


def _register(
    ct: sitk.Image,
    mr: sitk.Image,
    model: Model,
    mr_path: Path,
    folder: Path,
    *,
    threads: int,
    force: bool,
    kept: bool,
    qc_thresholds: dict | None = None,
) -> tuple[str, RegistrationFiles]:
    """MR onto the clipped CT as the workflow registers it, written as the workflow writes it
    (:func:`hanseg.jobs.registration.write_registration`; the QC picture only if the folder is `kept`); returns the
    QC status and the files."""
    parameter_files = elastix_parameter_files(model, folder / "parameters")
    try:
        result = register(
            ct,
            mr,
            parameter_files,
            folder,
            threads=threads,
            initialisation=model.record["registration"]["initialisation"],
            qc_thresholds=qc_thresholds,
        )
    except RegistrationError as error:
        raise RegistrationQCError(f"{mr_path}: cannot register this MR onto the CT: {error}") from error
    status = qc_status(result.report)
    files = RegistrationFiles.in_folder(folder, stages=len(parameter_files))
    if not kept:
        files = replace(files, qc=None)
    write_registration(result, files, ct, title=mr_path.name)
    picture = f"see {folder / 'qc.png'}" if kept else "--keep-intermediates DIR keeps the QC picture"
    if status == "fail":
        qc = result.report.get("qc", {})
        message = (
            f"{mr_path}: registration QC fail: {qc.get('measure', 'QC')} {qc.get('value', '')} "
            f"(fail from {qc.get('thresholds', {}).get('fail', '?')}); {picture}"
        )
        if not force:
            raise RegistrationQCError(message + "; --force segments anyway")
        log.warning("%s; going on (--force)", message)
    elif status == "warn":
        log.warning("%s: registration QC warn; %s", mr_path, picture)
    return status, files


def segment_case(
    ct_path: Path | str,
    mr_path: Path | str | None,
    model_dir: Path | str,
    out_path: Path | str,
    *,
    device: str = NNUNET_DEVICE,
    threads: int = 1,
    folds: list[str] | None = None,
    force: bool = False,
    qc_thresholds: dict | None = None,
    backmap: str = BACKMAP,
    intermediates: Path | str | None = None,
    postprocessing: bool = True,
) -> dict:
    """Segment one case; write `out_path` (label map) and its `.seg.nrrd` beside it; return the run's summary.

    Everything that can be checked cheaply (the output name, the model folder, the channels against the inputs,
    the images, the head) is checked before the registration and the prediction. The model's post-processing
    decision (a cross-validated model's `postprocessing.json`) is applied unless `postprocessing` is False.
    """
    check_method(backmap)  # before anything slow
    resolve_device(device)  # a GPU asked for on a machine without one: said now, not after the registration
    watch = Stopwatch(log, "segment")
    ct_path, out_path = Path(ct_path), Path(out_path)
    mr_path = Path(mr_path) if mr_path is not None else None
    slicer_path(out_path)  # a wrong output name fails now, not after the prediction
    model = read_model(model_dir, folds)
    check_inputs(model, mr_path is not None)
    decision = model_decision(model.folder) if postprocessing else None
    # The checkpoints and the network classes are checked before anything is written (untrusted input).
    with watch("loading the model"):
        predictor = Predictor(model.folder, model.folds, device=device, threads=threads)
    ct = read_image(ct_path)
    check_axial(ct, str(ct_path))
    check_head(ct, str(ct_path))
    mr = read_image(mr_path) if mr_path is not None else None
    log.info(
        "model %s: channels %s, folds %s, grid %s mm",
        model.name,
        model.channels,
        model.folds,
        model.record["target_spacing"],
    )
    with ExitStack() as stack:
        if intermediates is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hanseg-segment-")))
        else:
            work = Path(intermediates)
            work.mkdir(parents=True, exist_ok=True)
        options = {
            "threads": threads,
            "force": force,
            "qc_thresholds": qc_thresholds,
            "kept": intermediates is not None,
        }
        channel_images, status = _channels(ct, mr, mr_path, model, work, watch, options)
        labels_path, seg_path, counts = _predict(
            predictor, channel_images, ct, out_path, work, watch, options, backmap, decision
        )
        summary = {
            "ct": str(ct_path),
            "mr": str(mr_path) if mr_path is not None else None,
            "model": str(model.folder),
            "experiment": model.name,
            "channels": model.channels,
            "inputs": ["CT", "MR"] if model.needs_mr and mr_path is not None else ["CT"],
            "folds": model.folds,
            "postprocessing": decision,
            "device": device,
            "backmap": backmap,
            "registration_qc": status,
            "labels": str(labels_path),
            "slicer": str(seg_path),
            "organ_voxels": {organ: int(counts[label]) for organ, label in dataset_layout.LABEL_IDS.items()},
            "seconds": watch.rounded(),
        }
        if intermediates is not None:
            write_text_atomic(work / "segment.json", json.dumps(summary, indent=1) + "\n")
    return summary


def _channels(ct, mr, mr_path, model: Model, work: Path, watch: Stopwatch, options: dict):
    """The CT clipped to the model's HU range, the MR registered onto it (when the model needs it), both resampled
    onto the model's grid and made into its channels; and the registration's QC status (None without an MR)."""
    record = model.record
    lower, upper = record["hu_clip"]
    ct_clipped = clip_intensity(ct, lower, upper)
    status = mr_in_ct = fov = None
    if model.needs_mr and mr is not None:
        with watch("registration"):
            status, registered = _register(ct_clipped, mr, model, mr_path, work / "registration", **options)
            mr_in_ct = read_image(registered.mr)
            fov = read_image(registered.fov, "mask")
    with watch("resampling"):
        from hanseg.preprocessing.resampling import ResampledFiles, resample_case

        resampled = ResampledFiles.in_folder(work / "resampled")
        if mr_in_ct is None:  # a CT-only model: no MR outputs
            resampled = replace(resampled, mr=None, fov=None)
        resample_case(
            ct_clipped,
            mr_in_ct,
            fov,
            {},
            resampled,
            spacing_xyz=tuple(record["target_spacing"]),
            hu_range=(lower, upper),
            body_crop=bool(record["body_crop"]),
        )
        files = {"ct": resampled.ct, "mr": resampled.mr, "fov": resampled.fov}
        # Without an MR, a model that accepts CT alone (modality dropout) gets zero MR channels.
        given = given_channels(model.channels, ["CT"]) if model.needs_mr and mr is None else None
        channel_images = read_channels(model.channels, files, given)
    return channel_images, status


def _predict(predictor, channel_images, ct, out_path: Path, work: Path, watch: Stopwatch, options, backmap, decision):
    """nnU-Net's prediction brought onto the original CT's grid and written (label map and Slicer file); the paths
    and the voxels per label."""
    with watch("prediction"):
        prediction, probabilities = predict(predictor, channel_images, backmap=backmap)
    if options["kept"]:
        write_image(prediction, work / "prediction.nrrd")
    with watch("back_mapping"):
        labels = onto_grid(prediction, probabilities, Grid.of(ct))
        del probabilities
        if decision:  # on the CT's grid: the grid of the label map handed out
            labels = apply_to_image(labels, decision)
        labels_path, seg_path = write_label_files(labels, out_path)
    array = sitk.GetArrayViewFromImage(labels)
    counts = np.bincount(array.ravel(), minlength=len(dataset_layout.ORGANS) + 1)
    return labels_path, seg_path, counts
