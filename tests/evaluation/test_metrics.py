"""Tests of hanseg.evaluation.metrics: the HD must be surface-distance's, number for number.

surface-distance (DeepMind) is the reference the HaN-Seg paper used; it is a test-only dependency and
crashes on empty masks under NumPy 2 (``np.Inf``), so it only sees non-empty cases here. Arrays stay small
(its Python sort is slow) so the whole file runs in seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from hanseg.evaluation import metrics

# surface-distance calls the deprecated scipy.ndimage.filters / .morphology namespaces.
pytestmark = pytest.mark.filterwarnings("ignore:Please import:DeprecationWarning")

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 100.0)
SPACINGS = ((2.0, 0.5, 0.5), (1.0, 1.0, 1.0), (3.0, 0.7, 0.9))  # numpy order; the first is HaN-Seg CT-like


# ---------------------------------------------------------------------------------------------------------
# Random masks shaped like head-and-neck organs, on small grids.
# ---------------------------------------------------------------------------------------------------------


def _blob(rng: np.random.Generator, shape: tuple[int, ...], density: float = 0.01, grow: int = 2) -> np.ndarray:
    seeds = rng.random(shape) < density
    seeds[tuple(rng.integers(0, n) for n in shape)] = True  # never empty
    return ndimage.binary_dilation(seeds, iterations=grow)


def _perturb(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A plausible prediction: shifted by up to one voxel, boundary voxels flipped at random."""
    moved = ndimage.shift(mask.astype(np.uint8), rng.integers(-1, 2, 3), order=0) > 0
    edge = moved ^ ndimage.binary_erosion(moved)
    flip = edge & (rng.random(mask.shape) < 0.3)
    out = (moved & ~flip) | (ndimage.binary_dilation(moved) & (rng.random(mask.shape) < 0.1))
    return out if out.any() else mask.copy()


def _tube(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One-voxel-thick random walk along axis 0, like an optic nerve or a carotid on a thick-slice grid."""
    mask = np.zeros(shape, bool)
    y, x = rng.integers(2, shape[1] - 2), rng.integers(2, shape[2] - 2)
    for z in range(1, shape[0] - 1):
        mask[z, y, x] = True
        y = int(np.clip(y + rng.integers(-1, 2), 0, shape[1] - 1))
        x = int(np.clip(x + rng.integers(-1, 2), 0, shape[2] - 1))
    return mask


def _case(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (12, 26, 22)
    if kind == "blob":
        ref = _blob(rng, shape)
        return ref, _perturb(rng, ref)
    if kind == "tube":
        ref = _tube(rng, shape)
        return ref, _tube(rng, shape) | _perturb(rng, ref)
    if kind == "tiny":  # a cochlea or pituitary: a handful of voxels
        ref, pred = np.zeros(shape, bool), np.zeros(shape, bool)
        centre = rng.integers(3, np.array(shape) - 3)
        for mask in (ref, pred):
            for _ in range(int(rng.integers(1, 5))):
                mask[tuple(centre + rng.integers(-1, 2, 3))] = True
        return ref, pred
    if kind == "island":  # a false-positive island far from the organ
        ref = np.zeros(shape, bool)
        ref[2:6, 3:10, 3:9] = _blob(rng, (4, 7, 6), density=0.1, grow=1)
        pred = _perturb(rng, ref)
        pred[-3:-1, -4:-1, -3:] = True
        return ref, pred
    if kind == "border":  # organs cut by the field of view, on every face
        ref = _blob(rng, shape, density=0.02, grow=2)
        ref[0, 5:12, 4:9] = ref[-1, 10:20, 3:6] = ref[3:7, 0, :5] = ref[4:9, -3:, -1] = True
        pred = _perturb(rng, ref)
        pred[:, :, 0] |= rng.random(shape[:2]) < 0.3
        return ref, pred
    raise ValueError(kind)


KINDS = ("blob", "tube", "tiny", "island", "border")
SEEDS = (0, 1, 2, 3)


# ---------------------------------------------------------------------------------------------------------
# Against surface-distance.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", [SPACINGS[0], SPACINGS[2]])
def test_area_table_matches_surface_distance(spacing: tuple[float, float, float]) -> None:
    lookup_tables = pytest.importorskip("surface_distance.lookup_tables")
    theirs = lookup_tables.create_table_neighbour_code_to_surface_area(spacing)
    # Same geometry; only the order of summing a block's triangles may differ (last bit).
    np.testing.assert_allclose(metrics.surfel_area_table(spacing), theirs, rtol=1e-14, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
def test_surface_metrics_match_surface_distance(kind: str, seed: int) -> None:
    """HD at every percentile, surface Dice at several tolerances and ASSD, against surface-distance."""
    surface_distance = pytest.importorskip("surface_distance")
    ref, pred = _case(kind, seed)
    assert ref.any() and pred.any()  # theirs cannot take empty masks under NumPy 2
    spacing = SPACINGS[seed % len(SPACINGS)]
    theirs = surface_distance.compute_surface_distances(ref, pred, spacing)
    ours = metrics.surface_distances(ref, pred, spacing)
    # The surfels, their order and their distances are the same...
    np.testing.assert_allclose(ours.distances_ref_to_pred, theirs["distances_gt_to_pred"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.distances_pred_to_ref, theirs["distances_pred_to_gt"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.areas_ref, theirs["surfel_areas_gt"], rtol=1e-13)
    np.testing.assert_allclose(ours.areas_pred, theirs["surfel_areas_pred"], rtol=1e-13)
    # ... and so is the robust Hausdorff distance, whatever the percentile.
    for percentile in PERCENTILES:
        expected = surface_distance.compute_robust_hausdorff(theirs, percentile)
        assert metrics.hausdorff_percentile(ref, pred, spacing, percentile) == pytest.approx(expected, abs=1e-4)
        assert metrics.hausdorff_percentile(pred, ref, spacing, percentile) == pytest.approx(expected, abs=1e-4)
    # Surface Dice at the authors' 2 mm and at tolerances on and between the grid's distances (ties at <=).
    for tolerance in (0.0, 0.5, 1.0, 2.0, 3.5):
        expected = surface_distance.compute_surface_dice_at_tolerance(theirs, tolerance)
        assert metrics.surface_dice(ours, tolerance) == pytest.approx(expected, abs=1e-6)
    assd = float(np.mean(surface_distance.compute_average_surface_distance(theirs)))
    assert metrics.average_symmetric_surface_distance(ours) == pytest.approx(assd, abs=1e-3)
    scores = metrics.mask_metrics(ref, pred, spacing)
    assert scores.surface_dice == pytest.approx(
        surface_distance.compute_surface_dice_at_tolerance(theirs, 2.0), abs=1e-6
    )
    assert scores.assd == pytest.approx(assd, abs=1e-3)


def test_missing_prediction_gives_surface_dice_0_and_infinite_assd(monkeypatch) -> None:
    """An organ the model did not segment. surface-distance reads np.Inf, gone in NumPy 2: give it back to
    theirs (only to theirs) to see what its definitions make of an empty mask."""
    surface_distance = pytest.importorskip("surface_distance")
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)
    ref, _ = _case("blob", 5)
    empty = np.zeros_like(ref)
    spacing = SPACINGS[0]
    theirs = surface_distance.compute_surface_distances(ref, empty, spacing)
    ours = metrics.surface_distances(ref, empty, spacing)
    assert surface_distance.compute_surface_dice_at_tolerance(theirs, 2.0) == 0.0
    assert metrics.surface_dice(ours, 2.0) == 0.0
    with np.errstate(invalid="ignore"):  # theirs divides 0 by 0 for the prediction's missing surface
        ref_to_pred, pred_to_ref = surface_distance.compute_average_surface_distance(theirs)
    assert ref_to_pred == math.inf and math.isnan(pred_to_ref)
    assert metrics.average_surface_distances(ours)[0] == math.inf
    assert metrics.average_symmetric_surface_distance(ours) == math.inf  # ours: infinite, not nan
    assert metrics.mask_metrics(ref, empty, spacing) == (0.0, math.inf, 0.0, math.inf)
    assert metrics.mask_metrics(empty, ref, spacing) == (0.0, math.inf, 0.0, math.inf)  # and the other way round
    nothing = metrics.surface_distances(empty, empty, spacing)
    assert math.isnan(metrics.surface_dice(nothing)) and math.isnan(metrics.average_symmetric_surface_distance(nothing))
    with pytest.raises(ValueError, match="tolerance"):
        metrics.surface_dice(ours, -1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_identical_masks_give_zero(seed: int) -> None:
    surface_distance = pytest.importorskip("surface_distance")
    ref, _ = _case(KINDS[seed % len(KINDS)], seed)
    for percentile in PERCENTILES:
        assert metrics.hausdorff_percentile(ref, ref.copy(), SPACINGS[0], percentile) == 0.0
    theirs = surface_distance.compute_surface_distances(ref, ref.copy(), SPACINGS[0])
    assert surface_distance.compute_robust_hausdorff(theirs, 95.0) == 0.0


@pytest.mark.parametrize("spacing", SPACINGS)
def test_percentile_rule_at_an_exact_tie(spacing: tuple[float, float, float]) -> None:
    """Two face-adjacent voxels: each has 8 corner surfels of equal area, 4 shared (distance 0) and 4 at
    spacing[0]. The cumulative area reaches exactly 50 % on the last zero, and surface-distance's rule
    (first index with cumulative >= p / 100) then takes that zero: HD50 = 0, just above 50 % it jumps."""
    ref, pred = np.zeros((5, 5, 5), bool), np.zeros((5, 5, 5), bool)
    ref[2, 2, 2] = pred[3, 2, 2] = True
    assert metrics.hausdorff_percentile(ref, pred, spacing, 50.0) == 0.0
    assert metrics.hausdorff_percentile(ref, pred, spacing, 50.1) == spacing[0]
    assert metrics.hausdorff_max(ref, pred, spacing) == spacing[0]
    surface_distance = pytest.importorskip("surface_distance")
    theirs = surface_distance.compute_surface_distances(ref, pred, spacing)
    assert surface_distance.compute_robust_hausdorff(theirs, 50.0) == 0.0


def test_axis_order_of_spacing_matters() -> None:
    """A shift along axis 0 costs spacing[0], not spacing[2]: the spacing is in numpy axis order."""
    ref = np.zeros((8, 8, 8), bool)
    ref[3, 3, 3] = True
    pred = np.roll(ref, 2, axis=0)
    assert metrics.hausdorff_max(ref, pred, (2.0, 0.5, 0.5)) == pytest.approx(4.0)
    assert metrics.hausdorff_max(ref, pred, (0.5, 0.5, 2.0)) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------
# HD100 against SimpleITK.
#
# SimpleITK's HausdorffDistanceImageFilter measures between voxel centres over ALL foreground voxels;
# surface-distance measures between surfels (corners shared by 2x2x2 blocks with both in- and outside
# voxels, half a voxel off the voxel centres). In general the two differ. They coincide exactly when:
#
# (a) every foreground voxel IS a surfel: give SimpleITK the surfel grids themselves (built below with
#     min/max filters, independently of the module). Then both take the max over the same point sets of
#     the distance to the nearest point of the other set.
# (b) one mask is a single voxel b outside the other mask A. Voxel HD = R = max_a |a - b|. Surfels: the
#     corner of the farthest voxel a that points away from b is a surfel (the voxel beyond it would be
#     farther still, so it is background) and lies exactly R from b's nearest corner, and no surfel of A
#     is farther than that, so HD(A -> b) = R. Back from b: walking the corner lattice from a corner of b
#     to the same corner of the nearest voxel of A crosses a surfel of A (the first block that touches A
#     shares four voxels with the background block before it), so HD(b -> A) <= min_a |a - b| <= R.
#     A single voxel on each side is the special case A = {a}.
# ---------------------------------------------------------------------------------------------------------


def _sitk_hausdorff(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float, float]) -> float:
    sitk = pytest.importorskip("SimpleITK")
    images = []
    for mask in (a, b):
        image = sitk.GetImageFromArray(mask.astype(np.uint8))
        image.SetSpacing(tuple(float(s) for s in spacing[::-1]))  # SimpleITK speaks x, y, z
        images.append(image)
    hausdorff = sitk.HausdorffDistanceImageFilter()
    hausdorff.Execute(*images)
    return hausdorff.GetHausdorffDistance()


def _surfel_grid(mask: np.ndarray) -> np.ndarray:
    """Surfels on the half-voxel grid: 2x2x2 blocks of the zero-padded mask that are neither all in nor all
    out (written with min/max filters, not with the module's neighbourhood codes)."""
    padded = np.pad(mask, 1).astype(np.uint8)
    high = ndimage.maximum_filter(padded, size=2, origin=0)[1:, 1:, 1:]
    low = ndimage.minimum_filter(padded, size=2, origin=0)[1:, 1:, 1:]
    return (high == 1) & (low == 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_hd100_matches_simpleitk_on_surfel_grids(seed: int) -> None:
    ref, pred = _case(KINDS[seed % len(KINDS)], seed)
    spacing = SPACINGS[seed % len(SPACINGS)]
    expected = _sitk_hausdorff(_surfel_grid(ref), _surfel_grid(pred), spacing)
    assert metrics.hausdorff_max(ref, pred, spacing) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_hd100_matches_simpleitk_for_a_single_voxel(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    spacing = SPACINGS[seed % len(SPACINGS)]
    shape = (10, 16, 14)
    # One voxel against one voxel.
    a, b = np.zeros(shape, bool), np.zeros(shape, bool)
    a[tuple(rng.integers(0, shape))] = True
    b[tuple(rng.integers(0, shape))] = True
    assert metrics.hausdorff_max(a, b, spacing) == pytest.approx(_sitk_hausdorff(a, b, spacing), abs=1e-6)
    # One voxel against a whole organ it lies outside of (a stray false positive, an unsegmented cochlea).
    organ = _blob(rng, shape, density=0.02, grow=1)
    single = np.zeros(shape, bool)
    single[tuple(np.argwhere(~organ)[rng.integers(0, np.count_nonzero(~organ))])] = True
    expected = _sitk_hausdorff(organ, single, spacing)
    assert metrics.hausdorff_max(organ, single, spacing) == pytest.approx(expected, abs=1e-6)
    assert metrics.hausdorff_max(single, organ, spacing) == pytest.approx(expected, abs=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Empty masks, cropping, argument checks.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crop", [True, False])
def test_empty_masks(crop: bool) -> None:
    empty, organ = np.zeros((6, 7, 8), bool), np.zeros((6, 7, 8), bool)
    organ[2:4, 2:5, 3:6] = True
    for percentile in (95.0, 100.0):
        assert metrics.hausdorff_percentile(organ, empty, SPACINGS[0], percentile, crop=crop) == math.inf
        assert metrics.hausdorff_percentile(empty, organ, SPACINGS[0], percentile, crop=crop) == math.inf
        assert math.isnan(metrics.hausdorff_percentile(empty, empty, SPACINGS[0], percentile, crop=crop))
    distances = metrics.surface_distances(organ, empty, SPACINGS[0], crop=crop)
    assert distances.distances_pred_to_ref.size == 0 and np.all(np.isinf(distances.distances_ref_to_pred))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["island", "border", "tiny"])
def test_cropping_changes_nothing(kind: str, seed: int) -> None:
    ref, pred = _case(kind, seed)
    spacing = SPACINGS[seed % len(SPACINGS)]
    cropped = metrics.surface_distances(ref, pred, spacing)
    full = metrics.surface_distances(ref, pred, spacing, crop=False)
    for ours, whole in zip(cropped, full, strict=True):
        np.testing.assert_array_equal(ours, whole)
    # Also inside a larger field of view, where the crop really is smaller than the array.
    big_ref, big_pred = np.zeros((30, 50, 40), bool), np.zeros((30, 50, 40), bool)
    big_ref[5 : 5 + ref.shape[0], 7 : 7 + ref.shape[1], 3 : 3 + ref.shape[2]] = ref
    big_pred[5 : 5 + ref.shape[0], 7 : 7 + ref.shape[1], 3 : 3 + ref.shape[2]] = pred
    for percentile in PERCENTILES:
        expected = metrics.robust_hausdorff(full, percentile)
        assert metrics.hausdorff_percentile(big_ref, big_pred, spacing, percentile) == expected
        assert metrics.hausdorff_percentile(big_ref, big_pred, spacing, percentile, crop=False) == expected


def test_bad_arguments() -> None:
    mask = np.ones((3, 3, 3), bool)
    with pytest.raises(ValueError, match="shape"):
        metrics.hausdorff_percentile(mask, np.ones((3, 3, 4), bool), (1, 1, 1))
    with pytest.raises(ValueError, match="3-D"):
        metrics.hausdorff_percentile(mask[0], mask[0], (1, 1, 1))
    with pytest.raises(ValueError, match="spacing"):
        metrics.hausdorff_percentile(mask, mask, (1, 1))
    with pytest.raises(ValueError, match="percentile"):
        metrics.hausdorff_percentile(mask, mask, (1, 1, 1), 101)


# ---------------------------------------------------------------------------------------------------------
# Dice and label maps.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_dice_matches_direct_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random((9, 10, 11)) < 0.3, rng.random((9, 10, 11)) < 0.4
    expected = 2 * np.sum(a & b) / (np.sum(a) + np.sum(b))
    assert metrics.dice(a, b) == pytest.approx(expected, rel=1e-12)
    assert metrics.dice(a.astype(np.uint8), b.astype(np.int16)) == pytest.approx(expected, rel=1e-12)
    assert metrics.dice(a, a) == 1.0


def test_dice_edge_cases() -> None:
    empty, a, b = np.zeros((4, 4, 4), bool), np.zeros((4, 4, 4), bool), np.zeros((4, 4, 4), bool)
    a[0, 0, :2], b[3, 3, 2:] = True, True
    assert math.isnan(metrics.dice(empty, empty))
    assert metrics.dice(a, b) == 0.0
    assert metrics.dice(a, empty) == 0.0 and metrics.dice(empty, b) == 0.0


def test_mask_metrics_match_separate_calls() -> None:
    for seed, kind in enumerate(KINDS):
        ref, pred = _case(kind, seed)
        got = metrics.mask_metrics(ref, pred, SPACINGS[0], 95.0)
        assert got.dice == metrics.dice(ref, pred)
        assert got.hausdorff == metrics.hausdorff_percentile(ref, pred, SPACINGS[0], 95.0)
    empty = np.zeros((4, 5, 6), bool)
    assert all(math.isnan(v) for v in metrics.mask_metrics(empty, empty, SPACINGS[0]))
    assert len(metrics.mask_metrics(empty, empty, SPACINGS[0])) == 4


def test_label_metrics_match_per_mask_calls() -> None:
    rng = np.random.default_rng(7)
    shape = (12, 26, 22)
    ref_labels, pred_labels = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    for label, kind in ((1, "blob"), (2, "tube"), (4, "island")):
        ref, pred = _case(kind, int(rng.integers(1000)))
        ref_labels[ref], pred_labels[pred] = label, label
    pred_labels[0, 0, 0] = 5  # label 5: prediction only -> inf
    ref_labels[-1, -1, -1] = 6  # label 6: reference only -> inf
    got = metrics.label_metrics(ref_labels, pred_labels, SPACINGS[0], labels=range(1, 8), percentile=95.0)
    assert sorted(got) == list(range(1, 8))
    for label in range(1, 8):
        ref, pred = ref_labels == label, pred_labels == label
        if not ref.any() and not pred.any():  # labels 3 and 7: not evaluated
            assert math.isnan(got[label].dice) and math.isnan(got[label].hausdorff)
            continue
        assert got[label] == metrics.mask_metrics(ref, pred, SPACINGS[0], 95.0)
        assert got[label].dice == metrics.dice(ref, pred)
        assert got[label].hausdorff == metrics.hausdorff_percentile(ref, pred, SPACINGS[0], 95.0)
    assert got[5] == (0.0, math.inf, 0.0, math.inf) and got[6] == (0.0, math.inf, 0.0, math.inf)
