"""nnU-Net's post-processing decision, as the workflow records and applies it: the same decision and the same label
maps as nnU-Net's own functions (its pickled functions applied to the same predictions), and a decision file that
names anything else is refused before it is used."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.nnunet.decision_file import read_decision
from hanseg.nnunet.model_checks import ModelError
from hanseg.nnunet.postprocessing import apply_decision, apply_to_image
from tests.support.model_folders import PLANS, dataset_json

BRAINSTEM, PAROTID = dataset_layout.LABEL_IDS["Brainstem"], dataset_layout.LABEL_IDS["Parotid_L"]


def _write(array: np.ndarray, path: Path) -> Path:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing((2.0, 2.0, 3.0))
    sitk.WriteImage(image, str(path))
    return path


def _case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A reference with two organs, and a prediction of them with a stray island of the brainstem (which removing
    helps) and a parotid split in two real parts (which removing would hurt)."""
    rng = np.random.default_rng(seed)
    reference = np.zeros((12, 24, 24), np.uint8)
    reference[3:9, 4:10, 4:10] = BRAINSTEM
    reference[3:9, 14:20, 4:8] = PAROTID
    reference[3:9, 14:20, 12:16] = PAROTID
    prediction = reference.copy()
    prediction[rng.integers(0, 3), 20:23, 18:21] = BRAINSTEM
    prediction[8, 4:10, 4:6] = 0
    return prediction, reference


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("postprocessing")
    (base / "pred").mkdir()
    (base / "ref").mkdir()
    files = {"predictions": {}, "references": {}}
    for i in range(3):
        prediction, reference = _case(i)
        files["predictions"][f"case_0{i}"] = _write(prediction, base / "pred" / f"case_0{i}.nrrd")
        files["references"][f"case_0{i}"] = _write(reference, base / "ref" / f"case_0{i}.nrrd")
    (base / "dataset.json").write_text(json.dumps(dataset_json(["CT", "MR"])))
    files["base"] = base
    return files


@pytest.mark.slow
def test_the_recorded_decision_is_nnunets_and_applies_as_nnunet_does(cases, monkeypatch):
    """nnU-Net's determine_postprocessing on the predictions (as `decide` runs it): its JSON, read as the workflow
    reads it, gives the steps of its pickled functions, and applying them gives nnU-Net's own result. (`decide`
    itself runs in the workflow's two-fold run, tests/workflow/test_workflow.py.)"""
    from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing, determine_postprocessing

    base = cases["base"]
    # nnU-Net starts a spawned pool per candidate step (31): forked workers compute the same, in seconds.
    fork = multiprocessing.get_context("fork")
    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: fork)
    determine_postprocessing(
        str(base / "pred"), str(base / "ref"), str(PLANS), str(base / "dataset.json"), 1, keep_postprocessed_files=False
    )
    steps = read_decision(base / "pred" / "postprocessing.json")
    with open(base / "pred" / "postprocessing.pkl", "rb") as f:
        functions, kwargs = pickle.load(f)  # our own test file: nnU-Net's decision as nnU-Net applies it
    assert [k["labels_or_regions"] for k in kwargs] == steps
    assert BRAINSTEM in steps and PAROTID not in steps  # the island goes, the two-part parotid stays
    for case, path in cases["predictions"].items():
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        ours = apply_decision(labels, steps)
        assert np.array_equal(ours, apply_postprocessing(labels, functions, kwargs)), case
        reference = sitk.GetArrayFromImage(sitk.ReadImage(str(cases["references"][case])))
        assert (ours == BRAINSTEM).sum() < (labels == BRAINSTEM).sum()
        assert np.array_equal(ours == PAROTID, labels == PAROTID)
        assert np.array_equal(ours == PAROTID, reference == PAROTID)
    image = sitk.ReadImage(str(cases["predictions"]["case_00"]))
    applied = apply_to_image(image, steps)
    assert applied.GetSpacing() == image.GetSpacing() and applied.GetSize() == image.GetSize()


@pytest.mark.parametrize(
    "content, words",
    [
        ({"postprocessing_fns": ["os.system"], "postprocessing_kwargs": [{"labels_or_regions": 1}]}, "refused"),
        (
            {"postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"], "postprocessing_kwargs": []},
            "not nnU-Net's",
        ),
        (
            {
                "postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"],
                "postprocessing_kwargs": [{"labels_or_regions": 31}],
            },
            "refused",
        ),
        (
            {
                "postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"],
                "postprocessing_kwargs": [{"labels_or_regions": 1, "background_label": 5}],
            },
            "refused",
        ),
    ],
)
def test_a_decision_naming_anything_else_is_refused_in_one_line(tmp_path, content, words):
    path = tmp_path / "postprocessing.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ModelError) as error:
        read_decision(path)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and message.startswith(str(path)) and words in message, message


def test_a_decision_of_every_organ_together_and_one_organ_is_read():
    steps = [list(range(1, 31)), BRAINSTEM]
    content = {
        "postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"] * 2,
        "postprocessing_kwargs": [{"labels_or_regions": s} for s in steps],
    }
    from hanseg.nnunet.decision_file import parse_decision

    assert parse_decision(content, Path("x")) == steps
