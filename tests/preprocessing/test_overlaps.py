"""Tests of hanseg.preprocessing.overlaps and hanseg.evaluation.overlap_ceiling: one overlap rule for the label map
and the evaluation, and the Dice ceiling it leaves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.evaluation.metrics import dice
from hanseg.evaluation.overlap_ceiling import (
    CEILING_COLUMNS,
    ceiling_markdown,
    ceiling_table,
    dice_ceiling,
    read_case_overlaps,
)
from hanseg.preprocessing.cropped_masks import CroppedMask, masks_from_labels
from hanseg.preprocessing.overlaps import label_map_keeps, resolve_overlaps
from hanseg.preprocessing.resampling import OrganOnGrid, ResampledFiles, build_label_map, resample_case

SHAPE = (14, 30, 32)


def _random_organs(seed: int) -> dict[str, np.ndarray]:
    """Boxes and balls that overlap in pairs and threes; two of them exactly the same size (a tie)."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(SHAPE)
    organs = {}
    for organ in ("Parotid_L", "Glnd_Submand_L", "Cavity_Oral", "BuccalMucosa", "Lips", "Bone_Mandible"):
        centre = rng.uniform([4, 8, 8], [10, 22, 24])
        radius = rng.uniform([2, 3, 3], [5, 9, 9])
        organs[organ] = sum(((g - c) / r) ** 2 for g, c, r in zip((zz, yy, xx), centre, radius, strict=True)) <= 1
    # A tie: two 4 x 4 x 4 cubes of equal size overlapping in a 2 x 4 x 4 slab; the lower id must keep it.
    organs["Eye_AL"] = np.zeros(SHAPE, bool)
    organs["Eye_AL"][2:6, 2:6, 2:6] = True
    organs["Eye_PL"] = np.zeros(SHAPE, bool)
    organs["Eye_PL"][4:8, 2:6, 2:6] = True
    return organs


def _on_grid(organs: dict[str, np.ndarray]) -> list[OrganOnGrid]:
    return [OrganOnGrid(organ, np.zeros(3, int), mask) for organ, mask in organs.items()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resolving_masks_equals_painting_the_label_map(seed):
    organs = _random_organs(seed)
    labels, overlaps = build_label_map(_on_grid(organs), SHAPE)
    assert len(overlaps) >= 3  # the case really overlaps
    painted = masks_from_labels(labels)
    resolved = resolve_overlaps({organ: CroppedMask.from_array(mask) for organ, mask in organs.items()})
    for organ in organs:
        expected = np.zeros(SHAPE, bool)
        if organ in painted:
            expected[painted[organ].box] = painted[organ].mask
        got = resolved[organ].window(tuple(slice(0, n) for n in SHAPE))
        np.testing.assert_array_equal(got, expected, err_msg=organ)
    # overlaps.tsv names the organ that holds the shared voxels in the label map, ties included.
    for row in overlaps:
        a, b = organs[row["organ_a"]], organs[row["organ_b"]]
        loser = row["organ_b"] if row["label_map_keeps"] == row["organ_a"] else row["organ_a"]
        assert dataset_layout.LABEL_IDS[loser] not in set(labels[a & b].tolist()), row  # (a third organ may hold some)


def test_ties_go_to_the_lower_id():
    sizes = {"Eye_AL": 64, "Eye_PL": 64, "Lips": 10}
    assert dataset_layout.LABEL_IDS["Eye_AL"] < dataset_layout.LABEL_IDS["Eye_PL"]
    assert label_map_keeps("Eye_PL", "Eye_AL", sizes) == "Eye_AL" == label_map_keeps("Eye_AL", "Eye_PL", sizes)
    assert label_map_keeps("Eye_AL", "Lips", sizes) == "Lips"
    labels, overlaps = build_label_map(_on_grid({k: v for k, v in _random_organs(0).items() if k[:4] == "Eye_"}), SHAPE)
    assert overlaps[0]["label_map_keeps"] == "Eye_AL" and set(labels[4:6, 2:6, 2:6].ravel()) == {
        dataset_layout.LABEL_IDS["Eye_AL"]
    }


@pytest.mark.parametrize(("seed", "exact"), [(5, 4), (1, 1)])  # 5: pairs only; 1: many voxels in three organs
def test_dice_ceiling_is_the_label_maps_dice_against_the_masks(seed, exact):
    organs = _random_organs(seed)
    labels, overlaps = build_label_map(_on_grid(organs), SHAPE)
    voxels = {organ: int(mask.sum()) for organ, mask in organs.items()}
    table = ceiling_table([(pd.DataFrame(overlaps), voxels)]).set_index("organ")
    assert list(table.reset_index().columns) == list(CEILING_COLUMNS)
    triple = np.sum([m.astype(int) for m in organs.values()], axis=0) > 2
    checked = 0
    for organ, mask in organs.items():
        in_map = labels == dataset_layout.LABEL_IDS[organ]
        taken = int(mask.sum() - in_map.sum())
        row = table.loc[organ]
        if not (triple & mask).any():  # exact when no voxel of the organ lies in three organs
            assert row["taken_mean"] == taken, organ
            assert row["dice_ceiling_min"] == pytest.approx(dice(mask, in_map), rel=1e-12), organ
            checked += taken > 0
        else:  # a voxel counted once per pair: L is an upper bound, the ceiling a lower bound
            assert row["taken_mean"] >= taken and row["dice_ceiling_min"] <= dice(mask, in_map) + 1e-12, organ
    assert checked >= exact
    assert dice_ceiling(100, 0) == 1.0 and dice_ceiling(100, 100) == 0.0 and math.isnan(dice_ceiling(0, 0))


def _nrrd(array: np.ndarray, path, spacing=(1.0, 1.0, 2.0)) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


def test_ceiling_table_from_resampling_records(tmp_path):
    """Resampling's real overlaps.tsv and resample.json of two cases; the ceiling matches the written label map."""
    cases = []
    for case, seed in (("case_01", 0), ("case_02", 2)):
        organs = _random_organs(seed)
        files = {}
        for organ, mask in organs.items():
            files[organ] = tmp_path / f"{case}_OAR_{organ}.seg.nrrd"
            _nrrd(mask.astype(np.uint8), files[organ])
        ct = tmp_path / f"{case}_ct.nrrd"
        _nrrd(np.zeros(SHAPE, np.int16), ct)
        out = tmp_path / case
        resample_case(
            sitk.ReadImage(str(ct)), None, None, files, ResampledFiles.in_folder(out), spacing_xyz=(1.0, 1.0, 2.0)
        )
        cases.append(read_case_overlaps(out / "overlaps.tsv", out / "resample.json"))
    table = ceiling_table(cases).set_index("organ")
    assert list(table.index) == [o for o in dataset_layout.ORGANS if o in table.index]  # official order
    assert (table["cases"] == 2).all() and table.loc["Eye_PL", "taken_mean"] == 32  # 2 x 4 x 4, both cases
    assert table.loc["Eye_PL", "taken_by"] == "Eye_AL" and table.loc["Eye_AL", "dice_ceiling_min"] == 1.0
    md = ceiling_markdown(table.reset_index())
    assert "| Eye_PL | 2 | 64 | 32.0 | 50.00 | Eye_AL | 0.6667 | 0.6667 |" in md
    assert "Organs that lose no voxel (ceiling 1):" in md

    with pytest.raises(FileNotFoundError, match="nowhere.tsv"):
        read_case_overlaps(tmp_path / "nowhere.tsv", tmp_path / "case_01/resample.json")
    (tmp_path / "bad.tsv").write_text("organ_a\torgan_b\tvoxels\nParotid_L\tPituitary\t3\n")
    with pytest.raises(ValueError, match="Pituitary"):
        read_case_overlaps(tmp_path / "bad.tsv", tmp_path / "case_01/resample.json")
