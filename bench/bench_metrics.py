"""Benchmark hanseg.evaluation.metrics against DeepMind's surface-distance on a synthetic HaN-Seg-sized case.

Run on demand (not a test):

    python bench/bench_metrics.py                      # 1142 x 1142 x 202 (x, y, z), 0.5 x 0.5 x 2 mm
    python bench/bench_metrics.py --shape 400 400 100  # quicker

It paints 30 organs (ellipsoids, tubes and a mandible-like arch, from a few dozen voxels to the mandible's
hundreds of thousands) into a reference label map, derives a prediction by shifting, eroding/dilating and
roughening each organ and adding a few false-positive islands, then scores every organ with Dice and HD95:

* ours, per organ on binary masks, as a caller with masks would: ``hausdorff_percentile`` alone (the
  like-for-like comparison) and ``mask_metrics`` (Dice + HD sharing one bounding-box search);
* ours on the two label maps at once (``label_metrics``), which finds all bounding boxes in one pass;
* surface-distance on the same binary masks, on the full grid as a user would call it (or, with
  ``--theirs crop``, on the bounding box of ref | pred padded by one voxel, cut out before the clock
  starts; that gives it the same answer).

Building the binary masks (``labels == k``, two full-volume passes per organ) is timed separately, since
both per-mask variants pay it equally. Times are seconds per case (all organs).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hanseg.core.defaults import HD_PERCENTILE, TARGET_SPACING
from hanseg.evaluation import metrics

try:  # optional: the reference implementation is a test-only dependency
    import surface_distance
except ImportError:  # pragma: no cover - depends on the environment
    surface_distance = None

DEFAULT_SHAPE_XYZ = (1142, 1142, 202)


@dataclass(frozen=True)
class Organ:
    """A synthetic organ: `kind` is ellipsoid, tube (along `axis`, numpy order) or arch; sizes in mm."""

    name: str
    kind: str
    radii_xyz: tuple[float, float, float]  # ellipsoid semi-axes, or (radius, radius, half length) of a tube
    axis: int = 0


# Rough semi-axes of the HaN-Seg organs at risk (mm), enough to get realistic voxel counts and surfaces.
ORGANS: tuple[Organ, ...] = (
    Organ("A_Carotid_L", "tube", (3, 3, 40)),
    Organ("A_Carotid_R", "tube", (3, 3, 40)),
    Organ("Arytenoid", "ellipsoid", (5, 4, 6)),
    Organ("Bone_Mandible", "arch", (45, 40, 15)),
    Organ("Brainstem", "ellipsoid", (14, 13, 28)),
    Organ("BuccalMucosa", "ellipsoid", (25, 9, 12)),
    Organ("Cavity_Oral", "ellipsoid", (25, 25, 15)),
    Organ("Cochlea_L", "ellipsoid", (2.5, 2.5, 2)),
    Organ("Cochlea_R", "ellipsoid", (2.5, 2.5, 2)),
    Organ("Cricopharyngeus", "ellipsoid", (10, 6, 5)),
    Organ("Esophagus_S", "tube", (7, 7, 20)),
    Organ("Eye_AL", "ellipsoid", (6, 5, 5)),
    Organ("Eye_AR", "ellipsoid", (6, 5, 5)),
    Organ("Eye_PL", "ellipsoid", (12, 12, 11)),
    Organ("Eye_PR", "ellipsoid", (12, 12, 11)),
    Organ("Glnd_Lacrimal_L", "ellipsoid", (9, 4, 4)),
    Organ("Glnd_Lacrimal_R", "ellipsoid", (9, 4, 4)),
    Organ("Glnd_Submand_L", "ellipsoid", (18, 14, 14)),
    Organ("Glnd_Submand_R", "ellipsoid", (18, 14, 14)),
    Organ("Glnd_Thyroid", "ellipsoid", (25, 10, 20)),
    Organ("Glottis", "ellipsoid", (10, 10, 3)),
    Organ("Larynx_SG", "ellipsoid", (15, 15, 12)),
    Organ("Lips", "ellipsoid", (25, 6, 10)),
    Organ("OpticChiasm", "ellipsoid", (8, 4, 1.5)),
    Organ("OpticNrv_L", "tube", (2, 2, 15), axis=1),
    Organ("OpticNrv_R", "tube", (2, 2, 15), axis=1),
    Organ("Parotid_L", "ellipsoid", (15, 20, 25)),
    Organ("Parotid_R", "ellipsoid", (15, 20, 25)),
    Organ("Pituitary", "ellipsoid", (5, 4, 3)),
    Organ("SpinalCord", "tube", (5, 5, 75)),
)


def _organ_mask(organ: Organ, spacing_zyx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The organ on its own small grid (numpy order), sized in voxels from its size in mm."""
    rx, ry, rz = organ.radii_xyz
    if organ.kind == "tube":
        length = rz
        radii = np.array([rx, rx, rx])
        radii[organ.axis] = length
    else:
        radii = np.array([rz, ry, rx])
    half = np.maximum(np.ceil(radii / spacing_zyx).astype(int), 1)
    z, y, x = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    z, y, x = z * spacing_zyx[0], y * spacing_zyx[1], x * spacing_zyx[2]
    if organ.kind == "ellipsoid":
        return (z / radii[0]) ** 2 + (y / radii[1]) ** 2 + (x / radii[2]) ** 2 <= 1.0
    if organ.kind == "tube":  # a gently wandering tube of radius rx along `axis`
        coords = [z, y, x]
        along = coords.pop(organ.axis)
        wiggle = 0.3 * rx * np.sin(along / max(rx, 1e-6) + rng.uniform(0, 2 * np.pi))
        return ((coords[0] - wiggle) ** 2 + coords[1] ** 2 <= rx**2) & (np.abs(along) <= length)
    # arch: the front half of an elliptic ring about 2 x 6 mm thick, like a mandible seen from above
    ring = np.sqrt((x / radii[2]) ** 2 + (y / radii[1]) ** 2)
    thickness = 6.0 / min(radii[1], radii[2])
    return (np.abs(ring - 1 + thickness / 2) <= thickness / 2) & (y >= -0.2 * radii[1]) & (np.abs(z) <= radii[0])


def _place(labels: np.ndarray, mask: np.ndarray, corner: np.ndarray, value: int) -> None:
    """Paint `mask` into `labels` with its first voxel at `corner`, clipped to the array."""
    lo = np.maximum(corner, 0)
    hi = np.minimum(corner + mask.shape, labels.shape)
    if np.any(hi <= lo):
        return
    src = tuple(slice(a - c, b - c) for a, b, c in zip(lo, hi, corner, strict=True))
    dst = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    labels[dst][mask[src]] = value


def _perturbed(mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A prediction of `mask`: grown by a margin, eroded or dilated, roughened; returned with its offset."""
    pad = 3
    grown = np.pad(mask, pad)
    step = rng.choice([-1, 0, 1])
    if step:
        structure = ndimage.generate_binary_structure(3, 1)
        op = ndimage.binary_dilation if step > 0 else ndimage.binary_erosion
        changed = op(grown, structure)
        grown = changed if changed.any() else grown
    edge = grown ^ ndimage.binary_erosion(grown)
    grown &= ~(edge & (rng.random(grown.shape) < 0.15))
    grown |= ndimage.binary_dilation(grown) & (rng.random(grown.shape) < 0.05)
    shift = np.array([rng.integers(-1, 2), rng.integers(-2, 3), rng.integers(-2, 3)])
    return grown, shift - pad


def make_case(
    shape_zyx: tuple[int, int, int], spacing_zyx: np.ndarray, islands: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and prediction label maps (uint8, numpy order); organs that do not fit are clipped."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape_zyx, np.uint8)
    pred = np.zeros(shape_zyx, np.uint8)
    island_organs = set(rng.choice(len(ORGANS), size=min(islands, len(ORGANS)), replace=False).tolist())
    for index, organ in enumerate(ORGANS):
        label = index + 1
        mask = _organ_mask(organ, spacing_zyx, rng)
        room = np.maximum(np.array(shape_zyx) - mask.shape, 1)
        corner = rng.integers(0, room)
        _place(ref, mask, corner, label)
        predicted, offset = _perturbed(mask, rng)
        _place(pred, predicted, corner + offset, label)
        if index in island_organs:  # a false positive up to ~80 mm away
            blob = _organ_mask(Organ("island", "ellipsoid", (3, 3, 3)), spacing_zyx, rng)
            jump = np.round(rng.uniform(-80, 80, 3) / spacing_zyx).astype(int)
            _place(pred, blob, corner + jump, label)
    return ref, pred


def _crop(ref: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks on the bounding box of ref | pred plus one voxel, copied contiguous (not timed).

    surface-distance pads the array border with background itself, so this changes nothing in its answer.
    """
    found = ndimage.find_objects((ref | pred).view(np.uint8))[0]
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in found)
    return np.ascontiguousarray(ref[box]), np.ascontiguousarray(pred[box])


def _theirs_hd(ref: np.ndarray, pred: np.ndarray, spacing: tuple[float, ...], percentile: float) -> float:
    assert surface_distance is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its scipy.ndimage.filters / .morphology calls
        distances = surface_distance.compute_surface_distances(ref, pred, spacing)
        return float(surface_distance.compute_robust_hausdorff(distances, percentile))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=DEFAULT_SHAPE_XYZ, metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=TARGET_SPACING, metavar=("X", "Y", "Z"))
    parser.add_argument("--percentile", type=float, default=HD_PERCENTILE)
    parser.add_argument("--islands", type=int, default=3, help="organs whose prediction gets a far-off island")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--theirs",
        choices=("full", "crop", "skip"),
        default="full",
        help="surface-distance on the whole grid (as users call it), on the crop, or not at all",
    )
    args = parser.parse_args(argv)

    shape_zyx = tuple(args.shape[::-1])
    spacing_zyx = np.array(args.spacing[::-1], dtype=float)
    spacing = tuple(float(s) for s in spacing_zyx)
    start = time.perf_counter()
    ref_labels, pred_labels = make_case(shape_zyx, spacing_zyx, args.islands, args.seed)
    print(
        f"grid {args.shape[0]} x {args.shape[1]} x {args.shape[2]} (x, y, z), "
        f"spacing {tuple(args.spacing)} mm, {len(ORGANS)} organs, "
        f"built in {time.perf_counter() - start:.1f} s"
    )
    run_theirs = args.theirs != "skip" and surface_distance is not None
    if surface_distance is None:
        print("note: surface-distance is not installed (pip install surface-distance); only ours is timed")

    t_masks = t_hd = t_both = t_theirs = 0.0
    worst, skipped = 0.0, 0
    rows = []
    for label, organ in enumerate(ORGANS, start=1):
        tick = time.perf_counter()
        ref, pred = ref_labels == label, pred_labels == label
        t_masks += time.perf_counter() - tick

        tick = time.perf_counter()
        hd = metrics.hausdorff_percentile(ref, pred, spacing, args.percentile)
        t_hd += time.perf_counter() - tick

        tick = time.perf_counter()
        scores = metrics.mask_metrics(ref, pred, spacing, args.percentile)
        t_both += time.perf_counter() - tick
        assert scores.hausdorff == hd or (math.isnan(hd) and math.isnan(scores.hausdorff))

        theirs = math.nan
        if run_theirs and not (ref.any() and pred.any()):
            skipped += 1  # theirs fails on empty masks under NumPy 2 (np.Inf)
        elif run_theirs:
            given = _crop(ref, pred) if args.theirs == "crop" else (ref, pred)
            tick = time.perf_counter()
            theirs = _theirs_hd(*given, spacing, args.percentile)
            t_theirs += time.perf_counter() - tick
            worst = max(worst, abs(hd - theirs))
        rows.append((organ.name, int(np.count_nonzero(ref)), scores.dice, hd, theirs))

    tick = time.perf_counter()
    labels = range(1, len(ORGANS) + 1)
    per_label = metrics.label_metrics(ref_labels, pred_labels, spacing, labels, args.percentile)
    t_labels = time.perf_counter() - tick
    same = all(
        x == y or (math.isnan(x) and math.isnan(y))
        for k, row in enumerate(rows, start=1)
        for x, y in zip(per_label[k][:2], row[2:4], strict=True)
    )

    p = f"HD{args.percentile:g}"
    print(f"\n{'organ':<16} {'voxels':>9} {'dice':>7} {p + ' ours':>11} {p + ' theirs':>11}")
    for name, voxels, dsc, hd, theirs in rows:
        print(f"{name:<16} {voxels:>9} {dsc:>7.4f} {hd:>11.4f} {theirs:>11.4f}")

    def line(what: str, seconds: float, note: str = "") -> None:
        print(f"  {what:<52} {seconds:7.2f} s{'  ' + note if note else ''}")

    print(f"\nper case ({len(ORGANS)} organs):")
    line("building binary masks (labels == k)", t_masks, "(not counted below)")
    line(f"ours: hausdorff_percentile, {p} only", t_hd)
    line(f"ours: mask_metrics, Dice + {p}", t_both)
    line(
        f"ours: label_metrics, Dice + {p} from label maps",
        t_labels,
        f"(needs no binary masks; {'identical' if same else 'DIFFERENT'} scores)",
    )
    if run_theirs:
        where = "full grid" if args.theirs == "full" else "bounding box + 1 voxel"
        line(f"surface-distance: {p} only, {where}", t_theirs)
        print(
            f"  ratio theirs / ours, {p} only: {t_theirs / t_hd:.1f}x;"
            f" theirs / ours label_metrics: {t_theirs / t_labels:.1f}x"
        )
        print(f"  max |{p} ours - theirs| over organs: {worst:.3g} mm")
        if skipped:
            print(f"  surface-distance skipped {skipped} organ(s) with an empty mask (it fails on them)")
    elif args.theirs != "skip":
        print("  surface-distance: not installed, not timed")


if __name__ == "__main__":
    main()
