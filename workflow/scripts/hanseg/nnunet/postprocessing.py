"""nnU-Net's post-processing: keep only the largest connected component, of all organs together and of each organ,
where that improved the cross-validation's Dice (nnU-Net's `determine_postprocessing`, run as nnU-Net runs it).

The decision is computed once per cross-validated model from its folds' predictions (every case predicted by the
fold that did not see it) and recorded in the model folder as nnU-Net's own `postprocessing.json`. It is applied
with nnU-Net's own function to the workflow's predictions and by `hanseg segment`.

nnU-Net also writes a `postprocessing.pkl` (pickled functions). A model folder may come from anyone, and unpickling
runs code: only the JSON is read, and it may name nothing but nnU-Net's largest-component function and organ labels
(:mod:`hanseg.nnunet.decision_file`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core.atomic import write_text_atomic
from hanseg.nnunet.decision_file import DECISION_FILE, parse_decision, read_decision


def decide(
    predictions: Mapping[str, Path | str],
    references: Mapping[str, Path | str],
    plans: Path | str,
    dataset_json: Path | str,
    decision: Path | str,
    *,
    processes: int = 1,
) -> list:
    """nnU-Net's decision for the `predictions` (case -> label map) against the `references` (case -> label map),
    written to `decision`; returns its steps (see :func:`~hanseg.nnunet.decision_file.read_decision`)."""
    from nnunetv2.postprocessing.remove_connected_components import determine_postprocessing

    if sorted(predictions) != sorted(references):
        raise ValueError("post-processing: predictions and references name different cases")
    with tempfile.TemporaryDirectory(prefix="hanseg-postprocessing-") as work:
        folder_predictions, folder_references = Path(work) / "predictions", Path(work) / "references"
        for folder, files in ((folder_predictions, predictions), (folder_references, references)):
            folder.mkdir()
            for case, path in files.items():
                (folder / f"{case}.nrrd").symlink_to(Path(path).resolve())
        determine_postprocessing(
            str(folder_predictions),
            str(folder_references),
            str(plans),
            str(dataset_json),
            num_processes=max(processes, 1),
            keep_postprocessed_files=False,
        )
        text = (folder_predictions / DECISION_FILE).read_text()
    steps = parse_decision(json.loads(text), Path(decision))
    write_text_atomic(decision, text)
    return steps


def apply_decision(labels: np.ndarray, steps: list) -> np.ndarray:
    """`labels` with the decision's steps applied in order, by nnU-Net's own function."""
    from nnunetv2.postprocessing.remove_connected_components import remove_all_but_largest_component_from_segmentation

    for step in steps:
        labels = remove_all_but_largest_component_from_segmentation(labels, step)
    return labels


def apply_to_image(image: sitk.Image, steps: list) -> sitk.Image:
    if not steps:
        return image
    result = sitk.GetImageFromArray(apply_decision(sitk.GetArrayFromImage(image), steps))
    result.CopyInformation(image)
    return result


def model_decision(model_folder: Path | str) -> list | None:
    """The model folder's decision, None where it has none (a holdout model)."""
    path = Path(model_folder) / DECISION_FILE
    return read_decision(path) if path.is_file() else None
