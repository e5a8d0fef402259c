"""Calibrating the registration QC on a family of pairs: good results, deliberate failures, margins per measure.

For each pair of a family with ground truth (:mod:`hanseg.dataset.phantom_family`): the registration itself (the good
result, with its TRE after each stage), the same result offset by 3, 5, 10 and 20 mm (a random direction per pair
and size) and rotated by 3, 5 and 10 degrees (a random axis through the landmarks' centre), and the registration
of the MR mirrored left-right (a header error). Every candidate of :mod:`hanseg.registration.qc_measures` is
measured on each.

A measure separates good from failed results when every good value lies on the good side of every value of a
result that must be flagged (off by 5 mm or 5 degrees or more, or mirrored); 3 mm and 3 degrees lie in between and
are shown, not required. The margin is the gap between the worst good value and the best must-flag value, in the
measure's units and in standard deviations of the good values (comparable across measures); the widest
standardised margin wins. Used by ``bench/bench_registration_qc.py`` and the tests.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.images import clip_intensity
from hanseg.core.landmarks import read_landmarks
from hanseg.dataset.phantom_family import mirrored_left_right
from hanseg.registration import qc_measures
from hanseg.registration.errors import RegistrationError
from hanseg.registration.mr_to_ct import register

#: (name, kind, size): the deliberate failures made from each good result.
FAILURES = (
    ("offset 3 mm", "offset", 3.0),
    ("offset 5 mm", "offset", 5.0),
    ("offset 10 mm", "offset", 10.0),
    ("offset 20 mm", "offset", 20.0),
    ("rotated 3 deg", "rotation", 3.0),
    ("rotated 5 deg", "rotation", 5.0),
    ("rotated 10 deg", "rotation", 10.0),
    ("mirrored MR", "mirror", 0.0),
)
#: Failures every QC outcome must flag (warn or fail): off by this much or more, and the mirrored MR.
MUST_FLAG_MM = 5.0
MUST_FLAG_DEG = 5.0


def must_flag(kind: str, size: float) -> bool:
    return (
        kind == "mirror"
        or (kind == "offset" and size >= MUST_FLAG_MM)
        or (kind == "rotation" and size >= MUST_FLAG_DEG)
    )


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def perturbation(kind: str, size: float, centre: np.ndarray, rng: np.random.Generator) -> sitk.Transform:
    """A CT -> CT move applied before the registration's transform: the result shifted or turned by `size`."""
    if kind == "offset":
        return sitk.TranslationTransform(3, (size * _unit(rng)).tolist())
    axis = _unit(rng)
    rotation = sitk.VersorRigid3DTransform()
    rotation.SetCenter([float(v) for v in centre])
    rotation.SetRotation(axis.tolist(), math.radians(size))
    return rotation


def read_pair(root: Path, case: str) -> tuple[sitk.Image, sitk.Image, dict, dict]:
    """CT (clipped as the workflow does), MR and the landmark pairs of one family case."""
    folder = dataset_layout.case_dir(Path(root) / dataset_layout.TOP_DIR, case)
    ct = clip_intensity(sitk.ReadImage(str(folder / dataset_layout.ct_name(case))), -1000, 3000)
    mr = sitk.ReadImage(str(folder / dataset_layout.mr_name(case)))
    truth = Path(root) / "truth" / case
    return ct, mr, read_landmarks(truth / "landmarks_ct.csv"), read_landmarks(truth / "landmarks_mr.csv")


def evaluate_pair(
    root: Path,
    case: str,
    parameter_files: list,
    work_dir: Path,
    *,
    threads: int = 2,
    seed: int = 0,
    mirrored: bool = True,
    failures: bool = True,
) -> dict:
    """The good result and its failures for one case: candidate values, TRE (rigid only, and rigid + B-spline),
    seconds (see the module's doc). `mirrored`: also register the MR mirrored left-right (a second registration)."""
    ct, mr, landmarks_ct, landmarks_mr = read_pair(root, case)
    started = time.perf_counter()
    good = register(
        ct, mr, parameter_files, Path(work_dir) / "good", threads=threads, case=case,
        landmarks_ct=landmarks_ct, landmarks_mr=landmarks_mr,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    record = {
        "case": case,
        "seconds": seconds,
        "tre_mm": good.report["tre_mm"],
        "tre_mm_rigid_only": good.report.get("tre_mm_rigid_only"),
        "bspline_stage": good.report.get("bspline_stage"),
        "qc": good.report["qc"],
        "results": [
            {
                "name": "good",
                "kind": "good",
                "size": 0.0,
                **(
                    _measured(ct, good)
                    if failures
                    else {"values": {k: c["value"] for k, c in good.report["qc"]["checks"].items()}}
                ),
            }
        ],
    }
    if not failures:
        return record
    centre = np.mean([landmarks_ct[name] for name in sorted(landmarks_ct)], axis=0)
    rng = np.random.default_rng([seed, int(case.split("_")[-1])])
    for name, kind, size in FAILURES:
        if kind == "mirror":
            if not mirrored:
                continue
            try:
                result = register(
                    ct, mirrored_left_right(mr), parameter_files, Path(work_dir) / "mirrored", threads=threads
                )
            except RegistrationError as error:  # not even placed: the workflow stops on it, as on a fail
                values = {"values": dict.fromkeys(qc_measures.CANDIDATES, float("nan")), "error": str(error)}
            else:
                values = _measured(ct, result)
        else:
            # The mirror check asks whether left and right are swapped, which a rigid move does not change: the good
            # result's value stands for its moved copies (its realignments are the calibration's costliest part).
            values = _measured(ct, good, perturbation(kind, size, centre, rng), skip=("mirror_nmi_gain",))
            values["values"]["mirror_nmi_gain"] = record["results"][0]["values"]["mirror_nmi_gain"]
        record["results"].append({"name": name, "kind": kind, "size": size, **values})
    return record


def _measured(ct: sitk.Image, result, moved: sitk.Transform | None = None, skip: tuple[str, ...] = ()) -> dict:
    images = qc_measures.qc_images(ct, result.mr_in_ct, result.fov_mask, moved)
    return {"values": qc_measures.candidate_values(images, skip=skip)}


def margins(records: list[dict]) -> dict[str, dict]:
    """Per candidate: worst good value, best must-flag value, the gap (units, and SDs of the good values)."""
    table = {}
    for name, (_, higher_is_better, unit) in qc_measures.CANDIDATES.items():
        sign = 1.0 if higher_is_better else -1.0
        good = np.array([r["values"][name] for p in records for r in p["results"] if r["kind"] == "good"], float)
        bad = np.array(
            [
                r["values"][name]
                for p in records
                for r in p["results"]
                if r["kind"] != "good" and must_flag(r["kind"], r["size"])
            ],
            float,
        )
        worst_good = float(good.min() if higher_is_better else good.max())
        best_bad = float(np.nanmax(bad) if higher_is_better else np.nanmin(bad))
        gap = sign * (worst_good - best_bad)
        sd = float(good.std(ddof=1)) if len(good) > 1 else float("nan")
        table[name] = {
            "unit": unit,
            "higher_is_better": higher_is_better,
            "good_median": float(np.median(good)),
            "worst_good": worst_good,
            "best_must_flag": best_bad,
            "gap": gap,
            "gap_in_good_sd": gap / sd if sd > 0 else float("nan"),
        }
    return table


def qc_outcomes(records: list[dict], thresholds: dict | None = None) -> dict[str, dict[str, int]]:
    """Counts of the QC's pass / warn / fail (every check, the worst decides) per result name."""
    counts: dict[str, dict[str, int]] = {}
    for pair in records:
        for r in pair["results"]:
            status = qc_measures.decide(r["values"], thresholds)["status"]
            counts.setdefault(r["name"], dict.fromkeys(qc_measures.STATUSES, 0))[status] += 1
    return counts


def outcomes(records: list[dict], measure: str, thresholds: dict[str, float]) -> dict[str, dict[str, int]]:
    """Counts of pass / warn / fail per result name for `measure` at `thresholds`."""
    _, higher_is_better, _ = qc_measures.CANDIDATES[measure]
    counts: dict[str, dict[str, int]] = {}
    for pair in records:
        for r in pair["results"]:
            status = qc_measures.classify(r["values"][measure], thresholds, higher_is_better=higher_is_better)
            counts.setdefault(r["name"], dict.fromkeys(qc_measures.STATUSES, 0))[status] += 1
    return counts
