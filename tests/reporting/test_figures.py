"""Figures on small synthetic arrays: colours, orientation, meshes, overlays, and that every figure renders."""

from __future__ import annotations

import colorsys
import json
import math
import re

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.reporting.figures import cohort, images, results, style, surface
from hanseg.reporting.provenance import NOT_INSTALLED, budget_kind, cuda_version, provenance, to_markdown, versions
from hanseg.reporting.table2 import paper_table2
from tests.support.figure_checks import assert_figure


def _image(array: np.ndarray, spacing=(1.0, 1.0, 2.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def _labels(shape=(20, 40, 40)) -> np.ndarray:
    """A label map (z, y, x) with a left and a right parotid, a brainstem ball and a one-voxel chiasm."""
    labels = np.zeros(shape, dtype=np.uint8)
    z, y, x = np.indices(shape)
    ball = (z - 10) ** 2 / 9 + (y - 20) ** 2 / 25 + (x - 20) ** 2 / 25 <= 1
    labels[ball] = dataset_layout.LABEL_IDS["Brainstem"]
    labels[8:12, 15:25, 30:35] = dataset_layout.LABEL_IDS["Parotid_L"]  # high x: the patient's left
    labels[8:12, 15:25, 5:10] = dataset_layout.LABEL_IDS["Parotid_R"]
    labels[15, 20, 20] = dataset_layout.LABEL_IDS["OpticChiasm"]
    return labels


# ---- colours and scale bars -----------------------------------------------------------------------------------
def test_every_organ_has_its_own_colour_and_pairs_share_a_hue():
    assert set(style.ORGAN_COLOURS) == set(dataset_layout.ORGANS)
    assert len(set(style.ORGAN_COLOURS.values())) == len(dataset_layout.ORGANS)
    for left, right in dataset_layout.LR_PAIRS:
        (hl, ll, _), (hr, lr, _) = (colorsys.rgb_to_hls(*style.ORGAN_COLOURS[o]) for o in (left, right))
        assert hl == pytest.approx(hr, abs=0.01) and lr > ll  # the right organ: a lighter shade of the left one
    table = style.label_colours()
    assert table.shape == (31, 3) and not table[0].any()
    assert tuple(table[dataset_layout.LABEL_IDS["Brainstem"]]) == pytest.approx(style.ORGAN_COLOURS["Brainstem"])


@pytest.mark.parametrize(("span", "length"), [(300, 50), (120, 20), (60, 10), (8, 1), (1142 * 0.5, 100)])
def test_scale_bar_length_is_round(span, length):
    assert style.nice_length(span) == length


# ---- orientation ------------------------------------------------------------------------------------------------
def _bright_centroid(region: np.ndarray) -> tuple[float, float]:
    """Centre of the brightest pixels of one panel, as fractions of the panel's non-black bounding box."""
    grey = region[..., :3].mean(axis=-1)
    rows, cols = np.nonzero(grey > 0.05)
    panel = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    bright_rows, bright_cols = np.nonzero(panel > 0.9)
    return bright_rows.mean() / panel.shape[0], bright_cols.mean() / panel.shape[1]


def test_figure1_is_in_radiological_convention(tmp_path):
    """A marker at the patient's left (high x), anterior (low y) and superior (high z) lands where a reader
    expects it: right and up in the axial view, right and up in the coronal view, left (anterior) and up in the
    sagittal view."""
    shape = (40, 60, 60)
    ct = np.full(shape, 40, dtype=np.int16)  # soft tissue everywhere: the body crop keeps the whole image
    marker = (slice(28, 36), slice(8, 18), slice(42, 52))
    ct[marker] = 1500
    fov = np.zeros(shape, dtype=np.uint8)
    fov[marker] = 1  # the cross-sections go through the centre of the field of view
    out = tmp_path / "figure1.png"
    images.figure1(_image(ct), _image(ct.astype(np.float32)), out, fov_mask=_image(fov), case="case_99")
    pixels = assert_figure(out)
    height, width = pixels.shape[:2]
    top = pixels[int(0.05 * height) : height // 2]
    third = width // 3
    axial, coronal, sagittal = (top[:, i * third : (i + 1) * third] for i in range(3))
    row, col = _bright_centroid(axial)
    assert col > 0.6 and row < 0.4  # patient left on the image's right, anterior up
    row, col = _bright_centroid(coronal)
    assert col > 0.6 and row < 0.4  # head up
    row, col = _bright_centroid(sagittal)
    assert col < 0.4 and row < 0.4  # anterior on the left, head up


# ---- Figure 3: meshes in bounded memory -------------------------------------------------------------------------
def test_block_steps_keep_small_boxes_and_cap_large_ones():
    assert surface.block_steps((4, 6, 6), (2.0, 0.5, 0.5), min_voxel_mm=1.5, max_box_voxels=10_000) == (1, 3, 3)
    steps = surface.block_steps((200, 1142, 1142), (2.0, 0.5, 0.5), min_voxel_mm=1.5, max_box_voxels=150_000)
    boxes = np.prod([math.ceil(n / k) for n, k in zip((200, 1142, 1142), steps, strict=True)])
    assert boxes <= 150_000


def test_block_mean_is_the_fraction_inside():
    mask = np.zeros((2, 4, 5), dtype=bool)
    mask[:, :2, :2] = True
    mean = surface.block_mean(mask, (2, 2, 2))
    assert mean.shape == (1, 2, 3)
    assert mean[0, 0, 0] == 1.0 and mean[0, 1, 1] == 0.0 and mean[0, 0, 2] == 0.0


def test_meshes_lie_where_the_organs_are_and_tiny_organs_survive():
    labels = _labels()
    spacing = (1.0, 1.0, 2.0)
    meshes = surface.organ_meshes(labels, spacing, min_voxel_mm=2.0)
    assert set(meshes) == {"Brainstem", "Parotid_L", "Parotid_R", "OpticChiasm"}
    verts, faces = meshes["Parotid_L"]
    assert faces.max() < len(verts)
    # Vertices in mm as (x, y, z): the left parotid spans x 30..34, y 15..24, z 8..11 (voxel centres).
    low, high = verts.min(axis=0), verts.max(axis=0)
    assert low[0] >= 30 - 2 and high[0] <= 34 + 2
    assert low[1] >= 15 - 2 and high[1] <= 24 + 2
    assert low[2] >= 8 * 2 - 4 and high[2] <= 11 * 2 + 4
    chiasm = meshes["OpticChiasm"][0].mean(axis=0)
    assert chiasm == pytest.approx([20, 20, 30], abs=1.5)


def test_figure3_renders(tmp_path):
    out = surface.figure3(_labels(), (1.0, 1.0, 2.0), tmp_path / "figure3.png", case="case_99")
    assert_figure(out)


# ---- Figure 4: overlays ----------------------------------------------------------------------------------------
def test_overlay_is_opaque_on_outlines_translucent_inside_and_clear_outside():
    labels = np.zeros((7, 7), dtype=np.uint8)
    labels[1:6, 1:6] = dataset_layout.LABEL_IDS["Brainstem"]
    rgba = images.overlay_rgba(labels, fill_alpha=0.4)
    assert rgba[0, 0, 3] == 0.0
    assert rgba[1, 3, 3] == 1.0 and rgba[3, 3, 3] == pytest.approx(0.4)
    assert tuple(rgba[3, 3, :3]) == pytest.approx(style.ORGAN_COLOURS["Brainstem"])


def test_slices_cross_the_most_organs():
    labels = _labels()
    z, y, x = images._organ_slices(labels)
    assert 8 <= z <= 11  # brainstem and both parotids
    assert 15 <= y <= 24
    assert labels[:, :, x].any()


def test_figure4_renders_reference_and_prediction(tmp_path):
    labels = _labels()
    ct = np.where(labels > 0, 60, 0).astype(np.int16)
    prediction = np.roll(labels, 2, axis=2)
    out = tmp_path / "figure4.png"
    images.figure4(_image(ct), _image(labels), _image(prediction), out, case="case_99")
    assert_figure(out)
    with pytest.raises(ValueError, match="prediction"):
        images.figure4(_image(ct), _image(labels), _image(prediction[:-1]), out)


# ---- Figure 2 and the results figures --------------------------------------------------------------------------
def test_figure2_shows_sets_and_annotation_type_when_known(tmp_path):
    rng = np.random.default_rng(0)
    split = pd.DataFrame(
        {
            "case": [dataset_layout.case_id(i) for i in range(1, 13)],
            "role": ["train"] * 9 + ["test"] * 3,
            "age": rng.integers(35, 85, 12),
            "gender": ["M", "F", "M"] * 4,
            "annotation": ["technologist", "oncologists"] * 6,
        }
    )
    assert_figure(cohort.figure2(split, tmp_path / "figure2.png", method="holdout"))
    assert_figure(cohort.figure2(split.drop(columns="annotation"), tmp_path / "figure2b.png"))


def test_boxplots_follow_table2_and_count_infinite_hd95(tmp_path):
    organs = results.table2_organs()
    assert len(organs) == 30 and organs["label"].iloc[0] == "A_Carotid_L"
    assert set(organs["label"]) == set(dataset_layout.ORGANS)
    rows = [
        {"case": case, "organ": organ, "dc": 0.8, "hd95_mm": 3.0, "evaluated": True}
        for case in ("case_01", "case_02")
        for organ in dataset_layout.ORGANS
    ]
    rows[0] |= {"dc": 0.0, "hd95_mm": math.inf}
    assert_figure(results.boxplots(pd.DataFrame(rows), tmp_path / "boxes.png"))


def test_forest_plot_shows_every_verdict(tmp_path):
    from hanseg.reporting.paper_comparison import VS_PAPER_COLUMNS

    paper = paper_table2()
    rng = np.random.default_rng(2)
    verdicts = ["consistent", "lower", "higher", "n/a"]
    rows = []
    for index, row in enumerate(paper.itertuples(index=False)):
        word = verdicts[index % 4]
        dc, hd = row.dc_mean_pct + rng.normal(0, 3), row.hd95_mean_mm * rng.uniform(0.7, 1.5)
        ci = (math.nan, math.nan) if word == "n/a" else (dc - 4, dc + 4)
        rows.append(
            {
                "label": row.label,
                "oar_name": row.oar_name,
                "n": 11,
                "n_paper": row.n,
                "dc_mean_pct": dc,
                "dc_ci_low_pct": ci[0],
                "dc_ci_high_pct": ci[1],
                "dc_mean_pct_paper": row.dc_mean_pct,
                "dc_diff": dc - row.dc_mean_pct,
                "dc_verdict": word,
                "hd95_mean_mm": hd,
                "hd95_ci_low_mm": hd - 1,
                "hd95_ci_high_mm": hd + 1 + 60 * (index == 3),
                "hd95_mean_mm_paper": row.hd95_mean_mm,
                "hd95_diff": hd - row.hd95_mean_mm,
                "hd95_verdict": word,
            }
        )
    table = pd.DataFrame(rows, columns=list(VS_PAPER_COLUMNS))
    table.loc[table["dc_verdict"] == "n/a", ["dc_verdict", "hd95_verdict"]] = math.nan  # as pandas reads "n/a"
    pixels = assert_figure(results.forest_plot(table, tmp_path / "forest.png", confidence=0.9), min_height=700)
    assert pixels.shape[0] > pixels.shape[1] * 0.8  # one line per row of Table 2: a tall figure


def test_registration_montage_and_tre(tmp_path):
    entries, reports = [], {}
    for i in (1, 2):
        case = dataset_layout.case_id(i)
        folder = tmp_path / case
        folder.mkdir()
        ct = np.full((12, 30, 30), -1000, dtype=np.int16)
        ct[2:10, 5:25, 5:25] = 40
        mr = np.where(ct > -500, 200.0 + 10 * i, 0.0).astype(np.float32)
        for name, array in (("ct", ct), ("mr", mr), ("fov", (mr > 0).astype(np.uint8))):
            sitk.WriteImage(_image(array), str(folder / f"{name}.nrrd"))
        report = {"head_dice": {"final": 0.9}}
        if i == 1:
            report["tre_mm"] = {"mean": 1.2, "max": 2.0, "per_landmark": {"nasal_tip": 0.4, "skull": 2.0}}
        (folder / "registration.json").write_text(json.dumps(report))
        reports[case] = report
        entries.append({"case": case, **{n: folder / f"{n}.nrrd" for n in ("ct", "mr", "fov")}})
        entries[-1]["report"] = folder / "registration.json"
    assert_figure(results.registration_montage(entries, tmp_path / "montage.png"), min_width=300, min_height=150)
    assert_figure(results.tre_per_case(reports, tmp_path / "tre.png"))


def test_registration_montage_titles_say_what_the_qc_decided():
    qc = {"measure": "realignment_mm", "value": 4.2}
    assert results._title("case_01", {"qc": {**qc, "status": "pass"}}) == "case_01"
    assert results._title("case_01", {"qc": {**qc, "status": "warn"}}) == "case_01, QC WARN (realignment_mm 4.2)"
    # A fail is on show only under registration.on_fail: exclude (under error the job fails, its outputs removed).
    assert results._title("case_01", {"qc": {**qc, "status": "fail"}}).endswith("(realignment_mm 4.2), excluded")


def test_figures_are_written_atomically(tmp_path):
    plt = style.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = style.save(fig, tmp_path / "sub/figure.png")
    assert matplotlib.get_backend().lower() == "agg"
    assert out.is_file() and not list(out.parent.glob(".*tmp*"))


# ---- provenance ------------------------------------------------------------------------------------------------
def test_versions_tolerate_missing_packages():
    found = versions(("numpy", "surely-not-a-package-hanseg"))
    assert found["numpy"] == np.__version__ and found["surely-not-a-package-hanseg"] == NOT_INSTALLED
    cuda = cuda_version()  # read from torch's version file, without importing torch
    assert cuda is None or re.fullmatch(r"\d+\.\d+", cuda)


def test_provenance_tells_a_demo_from_the_papers_run(tmp_path):
    split = pd.DataFrame({"case": ["case_01", "case_02"], "role": ["train", "test"]})
    training = tmp_path / "hanseg_training.json"
    training.write_text(json.dumps({"fold": "all", "device": "cpu", "epochs": 2, "iterations_per_epoch": 2}))
    config = {"dataset": {"source": "phantom"}, "split": {"method": "holdout"}, "nnunet": {"epochs": 2}}
    record = provenance(config, split, [training, tmp_path / "missing.json"])
    assert record["run"].startswith("demo")
    assert record["split"]["test_cases"] == ["case_02"] and len(record["training"]["folds"]) == 1
    text = to_markdown(record)
    # experiment, fold, trainer, plans, configuration, device, epochs, iterations
    assert "|  | all | None | nnUNetPlans |  | cpu | 2 | 2 |" in text and "snakemake" in text
    assert "source: phantom" in text and "Plans: nnU-Net's own (nnUNetPlans), as the paper." in text
    paper = {"dataset": {"source": "zenodo"}, "nnunet": {"epochs": 1000, "iterations_per_epoch": 250}}
    assert budget_kind(paper, []) == "paper budget on real data"
    assert budget_kind(paper, [{"epochs": 1000, "iterations_per_epoch": 25}]).startswith("demo")


def test_provenance_names_the_versions_that_did_the_work(tmp_path):
    """The training env's nnunetv2/torch/CUDA and the registration env's itk-elastix win over the figures env's."""
    split = pd.DataFrame({"case": ["case_01"], "role": ["test"]})
    training = tmp_path / "hanseg_training.json"
    versions_used = {"nnunetv2": "2.0-trained", "torch": "9.9+cu126", "cuda (torch build)": "12.6", "gpu": None}
    training.write_text(json.dumps({"fold": "0", "device": "cuda", "versions": versions_used}))
    reports = []
    for case, elastix in (("a", "5.2.0"), ("b", "5.2.0"), ("c", "5.3.0")):
        reports.append(tmp_path / f"{case}.json")
        reports[-1].write_text(json.dumps({"versions": {"itk-elastix": elastix}}))
    record = provenance({}, split, [training], {"snakemake": "9.0"}, registration_reports=reports)
    found = record["versions"]
    assert found["nnunetv2"] == "2.0-trained" and found["torch"] == "9.9+cu126"
    assert found["cuda (torch build)"] == "12.6" and "gpu" not in found
    assert found["itk-elastix"] == "5.2.0, 5.3.0" and found["snakemake"] == "9.0"
    assert "| itk-elastix | 5.2.0, 5.3.0 |" in to_markdown(record)
