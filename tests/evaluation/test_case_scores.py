from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hanseg.cli import main
from hanseg.core import dataset_layout
from hanseg.evaluation.case_files import evaluate_files
from hanseg.evaluation.case_scores import COLUMNS, evaluate_case
from hanseg.evaluation.case_tables import read_case_tables, write_case_table
from hanseg.evaluation.metrics import dice, hausdorff_percentile
from hanseg.evaluation.overlap_ceiling import dice_ceiling
from hanseg.preprocessing.resampling import OrganOnGrid, build_label_map, target_grid

SHAPE = (24, 40, 40)  # z, y, x
SPACING = (2.0, 0.5, 0.75)  # z, y, x: anisotropic, so an axis mix-up changes HD95


def _by_organ(rows: list[dict]) -> dict[str, dict]:
    return {row["organ"]: row for row in rows}


def _block(z: tuple[int, int], y: tuple[int, int], x: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    mask[z[0] : z[1], y[0] : y[1], x[0] : x[1]] = True
    return mask


def _assert_same_rows(actual: list[dict], expected: list[dict]) -> None:
    """Equal rows, NaN included (a plain == on floats would call two NaNs different)."""
    pd.testing.assert_frame_equal(pd.DataFrame(actual), pd.DataFrame(expected), check_exact=True)


def _labels(**organs: np.ndarray) -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    for organ, mask in organs.items():
        labels[mask] = dataset_layout.LABEL_IDS[organ]
    return labels


@pytest.fixture
def fov_case():
    """Parotid_L keeps 30 of its 200 voxels (15 %) in the FoV, Parotid_R 34 of 136 (25 %)."""
    fov = np.zeros(SHAPE, bool)
    fov[17:] = True
    left = _block((0, 20), (5, 10), (5, 7))  # 10 voxels a slice
    right = _block((8, 20), (5, 10), (20, 22))
    right[18:20, 5:7, 22] = True  # a ragged edge: 4 voxels inside the FoV
    right[8:14, 5:7, 22] = True  # and 12 outside
    # Prediction: the right parotid shifted by one voxel, plus a false-positive slab below the FoV that must not count.
    pred_right = np.roll(right, 1, axis=2)
    pred_right[2:10, 20:30, 20:30] = True
    prediction = _labels(Parotid_L=left, Parotid_R=pred_right)
    return {"Parotid_L": left, "Parotid_R": right}, prediction, fov


def test_rows_cover_the_30_organs_in_official_order(fov_case):
    reference, prediction, fov = fov_case
    rows = evaluate_case(reference, prediction, fov, SPACING, case="case_07")
    assert [r["organ"] for r in rows] == list(dataset_layout.ORGANS)
    assert all(tuple(r) == COLUMNS for r in rows)
    assert {r["case"] for r in rows} == {"case_07"}


def test_fov_rule_keeps_more_than_20_percent_and_scores_inside_the_fov(fov_case):
    reference, prediction, fov = fov_case
    rows = _by_organ(evaluate_case(reference, prediction, fov, SPACING, case="c"))

    left = rows["Parotid_L"]
    assert left["evaluated"] is False
    assert left["reason"] == "outside field of view (15.0 % kept)"
    assert left["fov_fraction"] == pytest.approx(0.15)
    assert left["ref_voxels"] == 30 and left["pred_voxels"] == 30  # counted inside the FoV
    assert math.isnan(left["dc"]) and math.isnan(left["hd95_mm"])

    right = rows["Parotid_R"]
    ref_in = reference["Parotid_R"] & fov
    pred_in = (prediction == dataset_layout.LABEL_IDS["Parotid_R"]) & fov
    assert right["evaluated"] is True and right["reason"] == ""
    assert right["fov_fraction"] == pytest.approx(ref_in.sum() / reference["Parotid_R"].sum())
    assert right["fov_fraction"] == 0.25  # 3 slices of 10 plus 4 edge voxels, of 120 + 16
    assert right["ref_voxels"] == 34 and right["pred_voxels"] == int(pred_in.sum())
    assert right["dc"] == dice(ref_in, pred_in)
    assert right["hd95_mm"] == hausdorff_percentile(ref_in, pred_in, SPACING)
    # Scoring outside the FoV as well would give other numbers (the false-positive slab is 5 mm away or more).
    full_pred = prediction == dataset_layout.LABEL_IDS["Parotid_R"]
    assert right["dc"] != pytest.approx(dice(reference["Parotid_R"], full_pred))
    assert right["hd95_mm"] < hausdorff_percentile(reference["Parotid_R"], full_pred, SPACING)


def test_exactly_20_percent_is_not_enough():
    fov = np.zeros(SHAPE, bool)
    fov[18:] = True
    organ = _block((6, 21), (5, 10), (5, 7))  # 15 slices, 3 inside: 20 %
    rows = _by_organ(evaluate_case({"Brainstem": organ}, _labels(Brainstem=organ), fov, SPACING, case="c"))
    assert rows["Brainstem"]["fov_fraction"] == pytest.approx(0.2)
    assert rows["Brainstem"]["evaluated"] is False
    relaxed = _by_organ(
        evaluate_case({"Brainstem": organ}, _labels(Brainstem=organ), fov, SPACING, case="c", min_fov_fraction=0.19)
    )
    assert relaxed["Brainstem"]["evaluated"] is True and relaxed["Brainstem"]["dc"] == 1.0


def test_empty_prediction_missing_reference_and_both_empty():
    brainstem = _block((4, 12), (10, 20), (10, 20))
    cord = _block((12, 20), (14, 16), (14, 16))
    reference = {"Brainstem": brainstem, "Lips": np.zeros(SHAPE, np.uint8)}
    prediction = _labels(SpinalCord=cord)  # nothing for the brainstem; a cord the reference lacks
    rows = _by_organ(evaluate_case(reference, prediction, None, SPACING, case="c"))

    empty = rows["Brainstem"]
    assert empty["evaluated"] is True and empty["reason"] == "empty prediction"
    assert empty["dc"] == 0.0 and empty["hd95_mm"] == math.inf
    assert empty["sdice_2mm"] == 0.0 and empty["assd_mm"] == math.inf
    assert empty["ref_voxels"] == brainstem.sum() and empty["pred_voxels"] == 0 and empty["fov_fraction"] == 1.0

    missing = rows["SpinalCord"]  # predicted but not in the reference
    assert missing["evaluated"] is False and missing["reason"] == "no reference"
    assert missing["pred_voxels"] == cord.sum() and missing["ref_voxels"] == 0 and math.isnan(missing["fov_fraction"])

    for organ in ("Lips", "Glottis"):  # an empty reference mask, and an organ absent from both
        assert rows[organ]["evaluated"] is False and rows[organ]["reason"] == "no reference"
        assert all(math.isnan(rows[organ][c]) for c in ("dc", "hd95_mm", "sdice_2mm", "assd_mm"))


def test_overlapping_organs_are_scored_against_their_own_masks():
    parotid = _block((4, 14), (10, 20), (10, 20))  # 1000 voxels
    gland = _block((8, 16), (16, 22), (16, 22))  # 288 voxels, 96 of them inside the parotid
    overlap = int((parotid & gland).sum())
    assert overlap == 6 * 4 * 4
    # The label map (like resampling's) gives the overlap to the smaller organ; the prediction copies it exactly.
    prediction = _labels(Parotid_R=parotid, Glnd_Submand_R=gland)
    rows = _by_organ(
        evaluate_case({"Parotid_R": parotid, "Glnd_Submand_R": gland}, prediction, None, SPACING, case="c")
    )
    assert rows["Glnd_Submand_R"]["dc"] == 1.0
    p = int(parotid.sum())
    assert rows["Parotid_R"]["dc"] == pytest.approx(2 * (p - overlap) / (p + p - overlap))
    assert rows["Parotid_R"]["pred_voxels"] == p - overlap and rows["Parotid_R"]["ref_voxels"] == p
    assert rows["Parotid_R"]["hd95_mm"] > 0


def test_scores_equal_the_metrics_on_fov_restricted_masks_for_random_organs():
    rng = np.random.default_rng(3)
    zz, yy, xx = np.indices(SHAPE)
    reference, prediction = {}, np.zeros(SHAPE, np.uint8)
    for organ in ("Brainstem", "Cochlea_L", "Eye_AR", "Glnd_Thyroid", "Lips", "OpticChiasm"):
        centre = rng.uniform([4, 6, 6], [20, 34, 34])
        radius = rng.uniform([2, 2, 2], [5, 7, 7])
        ellipsoid = ((zz - centre[0]) / radius[0]) ** 2 + ((yy - centre[1]) / radius[1]) ** 2
        ellipsoid = ellipsoid + ((xx - centre[2]) / radius[2]) ** 2
        reference[organ] = ellipsoid <= 1
        noisy = (ellipsoid <= rng.uniform(0.6, 1.4)) ^ (rng.random(SHAPE) < 0.002)
        prediction[noisy & (prediction == 0)] = dataset_layout.LABEL_IDS[organ]
    fov = (zz < 18) & (xx > 4)
    rows = _by_organ(evaluate_case(reference, prediction, fov.astype(np.uint8), SPACING, case="c"))
    evaluated = [organ for organ in reference if rows[organ]["evaluated"]]
    assert len(evaluated) >= 4
    for organ in evaluated:
        ref_in = reference[organ] & fov
        pred_in = (prediction == dataset_layout.LABEL_IDS[organ]) & fov
        assert rows[organ]["dc"] == dice(ref_in, pred_in), organ
        assert rows[organ]["hd95_mm"] == hausdorff_percentile(ref_in, pred_in, SPACING), organ
        assert rows[organ]["pred_voxels"] == pred_in.sum()
    # A folder of binary masks (here: a mapping) scores the same as the label map it came from.
    masks = {organ: prediction == dataset_layout.LABEL_IDS[organ] for organ in reference}
    _assert_same_rows(evaluate_case(reference, masks, fov, SPACING, case="c"), list(rows.values()))


@pytest.mark.filterwarnings("ignore:Please import:DeprecationWarning")
def test_surface_dice_and_assd_match_surface_distance_inside_the_fov(monkeypatch):
    """sdice_2mm and assd_mm of every evaluated organ are surface-distance's on the FoV-restricted masks, with
    an organ the prediction misses (surface Dice 0, ASSD inf) and one outside the FoV (not evaluated)."""
    surface_distance = pytest.importorskip("surface_distance")
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)  # theirs still spells it np.Inf (gone in NumPy 2)
    rng = np.random.default_rng(21)
    zz, yy, xx = np.indices(SHAPE)
    fov = zz >= 6
    reference, prediction = {}, np.zeros(SHAPE, np.uint8)
    for organ, centre in (
        ("Parotid_L", (14, 12, 12)),
        ("Eye_PR", (18, 28, 28)),
        ("Brainstem", (10, 28, 12)),
        ("Cochlea_R", (19, 12, 30)),  # missed by the prediction
        ("Glnd_Thyroid", (2, 20, 20)),  # below the FoV: 1 of its 5 slices inside
    ):
        radius = rng.uniform([2.2, 3, 3], [3, 6, 6])
        ellipsoid = sum(((grid - c) / r) ** 2 for grid, c, r in zip((zz, yy, xx), centre, radius, strict=True))
        reference[organ] = ellipsoid <= 1
        if organ != "Cochlea_R":
            # Shifted 1.5-3 mm in x and grown or shrunk: some surface within 2 mm of the other, some not.
            noisy = np.roll(ellipsoid <= rng.uniform(0.7, 1.3), int(rng.integers(2, 5)), axis=2)
            prediction[noisy & (prediction == 0)] = dataset_layout.LABEL_IDS[organ]
    rows = _by_organ(evaluate_case(reference, prediction, fov, SPACING, case="c"))

    thyroid = rows["Glnd_Thyroid"]
    assert thyroid["evaluated"] is False and thyroid["reason"].startswith("outside field of view")
    assert math.isnan(thyroid["sdice_2mm"]) and math.isnan(thyroid["assd_mm"])
    for organ in ("Parotid_L", "Eye_PR", "Brainstem", "Cochlea_R"):
        assert rows[organ]["evaluated"] is True, organ
        theirs = surface_distance.compute_surface_distances(
            reference[organ] & fov, (prediction == dataset_layout.LABEL_IDS[organ]) & fov, SPACING
        )
        expected_sdice = surface_distance.compute_surface_dice_at_tolerance(theirs, 2.0)
        with np.errstate(invalid="ignore"):
            averages = surface_distance.compute_average_surface_distance(theirs)
        assert rows[organ]["sdice_2mm"] == pytest.approx(expected_sdice, abs=1e-6), organ
        if organ == "Cochlea_R":
            assert rows[organ]["reason"] == "empty prediction" and expected_sdice == 0.0
            assert averages[0] == math.inf and rows[organ]["assd_mm"] == math.inf
        else:
            assert 0.0 < rows[organ]["sdice_2mm"] < 1.0, organ  # a real test: neither perfect nor disjoint
            assert rows[organ]["assd_mm"] == pytest.approx(float(np.mean(averages)), abs=1e-3), organ


# ---------------------------------------------------------------------------------------------------------
# Files, grids and the CLI.
# ---------------------------------------------------------------------------------------------------------


def _image(array: np.ndarray, spacing_xyz=(0.75, 0.5, 2.0), origin=(-120.0, 30.5, -600.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing_xyz)
    image.SetOrigin(origin)
    return image


@pytest.fixture
def case_files(tmp_path, fov_case):
    """resampled/organs/<Organ>.nrrd, a HaN-Seg-style folder, a prediction label map and a FoV mask."""
    reference, prediction, fov = fov_case
    organs = tmp_path / "case_03/resampled/organs"
    hanseg = tmp_path / "HaN-Seg/set_1/case_03"
    for folder in (organs, hanseg):
        folder.mkdir(parents=True)
    for organ, mask in reference.items():
        sitk.WriteImage(_image(mask), str(organs / f"{organ}.nrrd"))
        sitk.WriteImage(_image(mask), str(hanseg / dataset_layout.organ_name("case_03", organ)))
    sitk.WriteImage(_image(fov), str(tmp_path / "fov_mask.nrrd"))
    sitk.WriteImage(_image(prediction), str(tmp_path / "case_03.nrrd"))
    return tmp_path


def test_files_give_the_same_rows_as_arrays(case_files, fov_case):
    reference, prediction, fov = fov_case
    expected = evaluate_case(reference, prediction, fov, SPACING, case="case_03")
    for ref in (
        case_files / "case_03/resampled/organs",
        case_files / "case_03/resampled",
        case_files / "HaN-Seg/set_1/case_03",
    ):
        rows = evaluate_files(ref, case_files / "case_03.nrrd", case_files / "fov_mask.nrrd")
        _assert_same_rows(rows, expected)  # case id guessed from the paths
    # A reference label map (no overlap here) and a prediction folder of binary masks read the same.
    sitk.WriteImage(_image(_labels(**reference)), str(case_files / "ref_labels.nrrd"))
    pred_folder = case_files / "pred_masks"
    pred_folder.mkdir()
    for organ in ("Parotid_L", "Parotid_R"):
        sitk.WriteImage(_image(prediction == dataset_layout.LABEL_IDS[organ]), str(pred_folder / f"{organ}.nrrd"))
    rows = evaluate_files(case_files / "ref_labels.nrrd", pred_folder, case_files / "fov_mask.nrrd", case="case_03")
    _assert_same_rows(rows, expected)


def test_reference_label_map_or_masks(tmp_path):
    """A model that reproduces the training label map exactly: scored against the label map (the authors' way)
    every organ is perfect; against the full masks the larger organ of an overlapping pair stops at its Dice
    ceiling. A folder of masks with resolve_overlaps scores exactly like the label map made of them."""
    parotid = _block((4, 14), (10, 20), (10, 20))  # 1000 voxels
    gland = _block((8, 16), (16, 22), (16, 22))  # 288 voxels, 96 shared with the parotid
    organs = [OrganOnGrid(o, np.zeros(3, int), m) for o, m in (("Parotid_R", parotid), ("Glnd_Submand_R", gland))]
    labels, overlaps = build_label_map(organs, SHAPE)
    assert overlaps == [
        {"organ_a": "Parotid_R", "organ_b": "Glnd_Submand_R", "voxels": 96, "label_map_keeps": "Glnd_Submand_R"}
    ]
    folder = tmp_path / "organs"
    folder.mkdir()
    for organ in organs:
        sitk.WriteImage(_image(organ.mask_zyx), str(folder / f"{organ.organ}.nrrd"))
    sitk.WriteImage(_image(labels), str(tmp_path / "labels.nrrd"))
    sitk.WriteImage(_image(labels), str(tmp_path / "case_05.nrrd"))  # the prediction: the label map itself

    by_label_map = _by_organ(evaluate_files(tmp_path / "labels.nrrd", tmp_path / "case_05.nrrd"))
    for organ in ("Parotid_R", "Glnd_Submand_R"):
        row = by_label_map[organ]
        assert (row["dc"], row["hd95_mm"], row["sdice_2mm"], row["assd_mm"]) == (1.0, 0.0, 1.0, 0.0), organ
    assert by_label_map["Parotid_R"]["ref_voxels"] == 1000 - 96

    by_masks = _by_organ(evaluate_files(folder, tmp_path / "case_05.nrrd", case="case_05"))
    assert by_masks["Glnd_Submand_R"]["dc"] == 1.0
    assert by_masks["Parotid_R"]["dc"] == pytest.approx(dice_ceiling(1000, 96)) and dice_ceiling(1000, 96) < 0.96
    assert by_masks["Parotid_R"]["ref_voxels"] == 1000 and by_masks["Parotid_R"]["hd95_mm"] > 0

    resolved = evaluate_files(folder, tmp_path / "case_05.nrrd", case="case_05", resolve_overlaps=True)
    _assert_same_rows(resolved, list(by_label_map.values()))

    # The command line: a label map is scored as a label map, a folder mask by mask unless told otherwise.
    argv = ["evaluate", "--pred", str(tmp_path / "case_05.nrrd")]
    assert main([*argv, "--ref", str(tmp_path / "labels.nrrd"), "--out", str(tmp_path / "a.tsv")]) == 0
    assert main([*argv, "--ref", str(folder), "--out", str(tmp_path / "b.tsv")]) == 0
    assert main([*argv, "--ref", str(folder), "--resolve-overlaps", "--out", str(tmp_path / "c.tsv")]) == 0
    a, b, c = (read_case_tables([tmp_path / f"{n}.tsv"]).set_index("organ") for n in "abc")
    assert a.loc["Parotid_R", "dc"] == 1.0 and b.loc["Parotid_R", "dc"] < 0.96
    pd.testing.assert_frame_equal(a, c)


def test_grid_mismatch_names_both_files_and_resampling_fixes_it(case_files, fov_case):
    reference, prediction, fov = fov_case
    shifted = case_files / "shifted.nrrd"
    sitk.WriteImage(_image(prediction, origin=(-120.0, 31.0, -600.0)), str(shifted))
    organs = case_files / "case_03/resampled/organs"
    with pytest.raises(ValueError, match="origin") as error:
        evaluate_files(organs, shifted, case="case_03")
    assert str(shifted) in str(error.value) and str(organs) in str(error.value)
    with pytest.raises(ValueError, match="fov_small"):
        bad_fov = case_files / "fov_small.nrrd"
        sitk.WriteImage(_image(fov[:, :20]), str(bad_fov))
        evaluate_files(organs, case_files / "case_03.nrrd", bad_fov)

    # Evaluation space "original": a prediction on a 2x finer grid of the same extent, back by nearest neighbour.
    coarse = _image(prediction)
    fine_grid = target_grid(coarse, (0.375, 0.25, 2.0))
    fine = sitk.Resample(coarse, fine_grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    assert fine.GetSize() == (80, 80, 24)
    sitk.WriteImage(fine, str(case_files / "fine.nrrd"))
    with pytest.raises(ValueError, match="size"):
        evaluate_files(organs, case_files / "fine.nrrd", case_files / "fov_mask.nrrd", case="case_03")
    rows = evaluate_files(
        organs, case_files / "fine.nrrd", case_files / "fov_mask.nrrd", case="case_03", resample_prediction=True
    )
    _assert_same_rows(rows, evaluate_case(reference, prediction, fov, SPACING, case="case_03"))


def test_bad_label_values_are_rejected(tmp_path, case_files):
    ct_like = tmp_path / "ct.nrrd"
    image = sitk.GetImageFromArray(np.full(SHAPE, -1000, np.int16))
    image.CopyInformation(_image(np.zeros(SHAPE)))
    sitk.WriteImage(image, str(ct_like))
    with pytest.raises(ValueError, match="official ids") as error:
        evaluate_files(case_files / "case_03/resampled/organs", ct_like)
    assert str(ct_like) in str(error.value)


def test_case_table_round_trip(tmp_path, fov_case):
    reference, prediction, fov = fov_case
    rows = evaluate_case(reference, np.zeros(SHAPE, np.uint8), None, SPACING, case="case_01")
    path = tmp_path / "sub/case_01.tsv"
    write_case_table(rows, path)
    assert path.read_text().splitlines()[0].split("\t") == list(COLUMNS)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    frame = read_case_tables([path])
    assert frame["evaluated"].dtype == bool and frame["ref_voxels"].dtype.kind == "i"
    left = frame.set_index("organ").loc["Parotid_L"]
    assert left["hd95_mm"] == math.inf and left["dc"] == 0.0 and left["reason"] == "empty prediction"
    assert frame.set_index("organ").loc["Lips", "reason"] == "no reference"
    with pytest.raises(ValueError, match="also in"):
        read_case_tables([path, path])


def test_cli_evaluate_then_table2(case_files, capsys):
    out = case_files / "evaluation/cases/case_03.tsv"
    argv = ["evaluate", "--ref", str(case_files / "HaN-Seg/set_1/case_03"), "--pred", str(case_files / "case_03.nrrd")]
    assert main([*argv, "--fov-mask", str(case_files / "fov_mask.nrrd"), "--out", str(out)]) == 0
    assert "1 of 30 organs evaluated" in capsys.readouterr().out
    frame = pd.read_csv(out, sep="\t")
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 30
    assert frame["evaluated"].sum() == 1 and set(frame["case"]) == {"case_03"}

    # Without the FoV both parotids count.
    out2 = case_files / "evaluation/cases/case_04.tsv"
    assert main([*argv, "--case", "case_04", "--out", str(out2)]) == 0
    assert main(["table2", str(out), str(out2), "--out-dir", str(case_files / "t2")]) == 0
    table = pd.read_csv(case_files / "t2/table2.csv").set_index("label")
    assert table.loc["Parotid_R", "n"] == 2 and table.loc["Parotid_L", "n"] == 1 and table.loc["Parotid", "n"] == 3
    expected = pd.concat([pd.read_csv(p, sep="\t") for p in (out, out2)])
    expected = expected[expected["evaluated"] & expected["organ"].str.startswith("Parotid")]
    assert table.loc["Parotid", "dc_mean_pct"] == pytest.approx(100 * expected["dc"].mean())
    for name in ("table2.md", "table2.tex", "table2_vs_paper.csv"):
        assert (case_files / "t2" / name).is_file()


def test_cli_errors_are_one_line_naming_the_file(case_files, capsys):
    missing = case_files / "nowhere.nrrd"
    organs = case_files / "case_03/resampled/organs"
    assert main(["evaluate", "--ref", str(organs), "--pred", str(missing), "--out", str(case_files / "x.tsv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hanseg evaluate: error:") and str(missing) in err and "\n" not in err
    assert not (case_files / "x.tsv").exists()

    assert main(["table2", str(case_files / "fov_mask.nrrd"), "--out-dir", str(case_files / "t2")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hanseg table2: error:") and str(case_files / "fov_mask.nrrd") in err and "\n" not in err
