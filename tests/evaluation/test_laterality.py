"""The left/right check: left organs must lie on the patient's left (+x in LPS) of their right partners."""

from __future__ import annotations

import numpy as np
import pandas as pd
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.evaluation.laterality import check_laterality, check_laterality_files, summarise


def _pairs_image(direction_x: float = 1.0) -> sitk.Image:
    """Every left/right pair as two blocks: left organ at larger physical x, right organ at smaller x."""
    labels = np.zeros((10, 20, 40), np.uint8)
    for k, (left, right) in enumerate(dataset_layout.LR_PAIRS):
        y = 2 * k + 1
        high_x, low_x = (slice(30, 34), slice(6, 10)) if direction_x > 0 else (slice(6, 10), slice(30, 34))
        labels[4:6, y : y + 1, high_x] = dataset_layout.LABEL_IDS[left]
        labels[4:6, y : y + 1, low_x] = dataset_layout.LABEL_IDS[right]
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((1.5, 1.0, 3.0))
    image.SetOrigin((-120.0, 30.0, -700.0))
    image.SetDirection((direction_x, 0, 0, 0, 1, 0, 0, 0, 1))
    return image


def test_correct_prediction_has_no_swapped_pair():
    table = check_laterality(_pairs_image(), case="case_01")
    assert len(table) == len(dataset_layout.LR_PAIRS) == 8
    assert not table["lr_swapped"].any()
    assert (table["pred_left_x_mm"] > table["pred_right_x_mm"]).all()


def test_mirrored_prediction_swaps_every_pair():
    image = _pairs_image()
    mirrored = sitk.GetImageFromArray(sitk.GetArrayFromImage(image)[:, :, ::-1].copy())
    mirrored.CopyInformation(image)
    table = check_laterality(mirrored, reference=image, case="case_01")
    assert table["lr_swapped"].all()
    assert not table["ref_lr_swapped"].any()


def test_physical_coordinates_not_voxel_order_decide():
    """An image stored with x running right-to-left (direction -1) is not swapped: its left organs are at high x."""
    flipped_storage = _pairs_image(direction_x=-1.0)
    assert not check_laterality(flipped_storage)["lr_swapped"].any()


def test_missing_side_is_not_checked():
    image = _pairs_image()
    array = sitk.GetArrayFromImage(image)
    array[array == dataset_layout.LABEL_IDS["Parotid_R"]] = 0
    cut = sitk.GetImageFromArray(array)
    cut.CopyInformation(image)
    table = check_laterality(cut).set_index("left")
    assert table.loc["Parotid_L", "lr_swapped"] is None
    assert table.loc["Parotid_L", "reason"] == "not predicted on both sides"
    assert table.drop(index="Parotid_L")["lr_swapped"].eq(False).all()


def test_files_and_summary_count_swapped_pairs(tmp_path):
    good = _pairs_image()
    bad = sitk.GetImageFromArray(sitk.GetArrayFromImage(good)[:, :, ::-1].copy())
    bad.CopyInformation(good)
    for name, image in (("good", good), ("bad", bad)):
        sitk.WriteImage(image, str(tmp_path / f"{name}.nrrd"))
    check_laterality_files(tmp_path / "good.nrrd", tmp_path / "good.nrrd", tmp_path / "case_01.tsv", case="case_01")
    check_laterality_files(tmp_path / "bad.nrrd", tmp_path / "good.nrrd", tmp_path / "case_02.tsv", case="case_02")
    table = summarise([tmp_path / "case_01.tsv", tmp_path / "case_02.tsv"], tmp_path / "all.tsv", tmp_path / "lr.md")
    assert len(table) == 16
    summary = (tmp_path / "lr.md").read_text()
    assert "**8 swapped pair(s)** of 16 checked" in summary and "| case_02 | Parotid_L | Parotid_R |" in summary
    again = pd.read_csv(tmp_path / "all.tsv", sep="\t")
    assert again["lr_swapped"].sum() == 8
