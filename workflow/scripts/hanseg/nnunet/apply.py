"""A trained model applied to a case on the model's grid, the result on the original CT's grid.

One path for the workflow's `segment` rule (the run's own resampled cases) and `hanseg segment` (a new case,
prepared by :mod:`hanseg.jobs.segment` first): nnU-Net predicts with the checkpoint's mirroring axes (left-right never),
:mod:`hanseg.preprocessing.backmap` brings the result onto the CT's grid, :mod:`hanseg.core.label_files` writes the
challenge's label map and the Slicer segmentation. Nothing here registers or resamples (no elastix in the nnU-Net env).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core.defaults import BACKMAP
from hanseg.core.images import Grid, read_image
from hanseg.core.label_files import slicer_path, write_label_files
from hanseg.core.timing import Stopwatch
from hanseg.nnunet.channels import read_channels
from hanseg.preprocessing.backmap import check_method, onto_grid

log = logging.getLogger(__name__)


def predict(
    predictor, channel_images: list[sitk.Image], *, backmap: str = BACKMAP
) -> tuple[sitk.Image, np.ndarray | None]:
    """The model's prediction on its grid (`predictor`: :class:`hanseg.nnunet.predict.Predictor`), and its class
    probabilities if `backmap` needs them."""
    check_method(backmap)
    return predictor.predict(channel_images, probabilities=backmap == "probabilities")


def segment_resampled(
    model_dir: Path | str,
    folds: list[str],
    channels: list[str],
    files: dict[str, Path | str],
    original_ct: Path | str,
    out_path: Path | str,
    *,
    backmap: str = BACKMAP,
    device: str = "cpu",
    threads: int = 1,
    given: list[str] | None = None,
    decision: Path | str | None = None,
) -> tuple[Path, Path]:
    """The workflow's `segment` rule: a case the run already registered and resampled (`files`: "ct", "mr", "fov"
    on the model's grid, as the channels need them; with `given`, only those channels), segmented onto the grid of
    `original_ct` and post-processed with the model's `decision` file when given, exactly as
    :func:`hanseg.jobs.segment.segment_case` segments a new case from there on."""
    from hanseg.nnunet.decision_file import read_decision
    from hanseg.nnunet.postprocessing import apply_to_image
    from hanseg.nnunet.predict import Predictor

    slicer_path(out_path)
    watch = Stopwatch(log, "segment")
    steps = read_decision(decision) if decision else None
    channel_images = read_channels(channels, files, given)
    target = Grid.of(read_image(original_ct))
    with watch("loading the model"):
        predictor = Predictor(model_dir, folds, device=device, threads=threads)
    with watch("prediction"):
        prediction, probabilities = predict(predictor, channel_images, backmap=backmap)
    with watch(f"back onto the CT's grid ({backmap})"):
        labels = onto_grid(prediction, probabilities, target)
    if steps:
        labels = apply_to_image(labels, steps)
    with watch("writing the label map and the Slicer segmentation"):
        return write_label_files(labels, out_path)
