"""Does the B-spline stage earn its keep? Landmark TRE after the rigid stage and after each B-spline variant.

Run on demand (not a test): ``python bench/bench_bspline.py [--pairs 6] [--deformations 0 6] [--shape 128x128x64]``.
For each family of realistic pairs (:mod:`hanseg.dataset.phantom_family`, one family per ``--deformations`` value:
the largest smooth deformation of the MR against the CT, mm) and each B-spline variant (the packaged
``bspline.txt`` with the changes in :data:`VARIANTS`), every pair is registered rigid then B-spline with the stage
forced on, so that one run gives the TRE of the rigid stage alone and of the B-spline result; the workflow's keep
decision (:func:`hanseg.registration.elastix.keep_bspline`, at its tolerances) is recomputed from the measures it
records and compared with the landmark truth (keep where the B-spline lowers the mean TRE). Prints per pair and a
summary per family and variant.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from hanseg.cli.options import shape as _shape
from hanseg.core.defaults import DATA_DIR
from hanseg.dataset.phantom_family import RealisticOptions, generate
from hanseg.registration import elastix
from hanseg.registration.mr_to_ct import register
from hanseg.registration.qc_calibration import read_pair

#: Changes to the packaged bspline.txt, by variant name.
VARIANTS: dict[str, dict[str, str]] = {
    "packaged": {},
    "bending_energy": {
        "Registration": '"MultiMetricMultiResolutionRegistration"',
        "Metric": '"AdvancedMattesMutualInformation" "TransformBendingEnergyPenalty"',
        "Metric0Weight": "1.0",
        "Metric1Weight": "100.0",
    },
    "small_steps": {
        "MaximumStepLength": "0.5",
        "NumberOfSpatialSamples": "10000",
    },
    "coarse_80mm_64bins": {
        "FinalGridSpacingInPhysicalUnits": "80.0 80.0 80.0",
        "NumberOfHistogramBins": "64",
        "NumberOfSpatialSamples": "8000",
    },
}


def variant_file(name: str, folder: Path) -> Path:
    lines = (DATA_DIR / "elastix/bspline.txt").read_text().splitlines()
    changes = dict(VARIANTS[name])
    out = []
    for line in lines:
        key = line[1:].split(" ", 1)[0] if line.startswith("(") else None
        out.append(f"({key} {changes.pop(key)})" if key in changes else line)
    out += [f"({key} {value})" for key, value in changes.items()]
    path = folder / f"bspline_{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
    return path


def decision(stage: dict) -> bool:
    """The workflow's keep decision from the measures the run recorded (its tolerances)."""
    return (
        stage["ngf_with_bspline"] >= stage["ngf_rigid_only"] - elastix.DEFORMABLE_NGF_TOLERANCE
        and stage["skin_distance_mm_with_bspline"]
        <= stage["skin_distance_mm_rigid_only"] + elastix.DEFORMABLE_SKIN_TOLERANCE_MM
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--deformations", type=float, nargs="+", default=[0.0, 6.0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--shape", type=_shape, default=(128, 128, 64))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench_bspline"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tolerances = (elastix.DEFORMABLE_NGF_TOLERANCE, elastix.DEFORMABLE_SKIN_TOLERANCE_MM)
    records = []
    for deformation in args.deformations:
        root = args.out / f"family_{deformation:g}mm"
        if len(list((root / "truth").glob("case_*"))) < args.pairs:
            generate(
                root,
                RealisticOptions(cases=args.pairs, seed=args.seed, ct_shape=args.shape, max_deformation_mm=deformation),
            )
        for variant in args.variants:
            bspline = variant_file(variant, args.out / "parameters")
            for index in range(1, args.pairs + 1):
                case = f"case_{index:02d}"
                cached = args.out / "records" / f"{deformation:g}mm_{variant}_{case}.json"
                if cached.is_file():
                    records.append(json.loads(cached.read_text()))
                    continue
                ct, mr, landmarks_ct, landmarks_mr = read_pair(root, case)
                # The stage forced on: the run then reports the B-spline result's TRE as well as the rigid one's.
                elastix.DEFORMABLE_NGF_TOLERANCE, elastix.DEFORMABLE_SKIN_TOLERANCE_MM = math.inf, math.inf
                started = time.perf_counter()
                try:
                    result = register(
                        ct, mr, [DATA_DIR / "elastix/rigid.txt", bspline], args.out / "work" / case,
                        threads=args.threads, landmarks_ct=landmarks_ct, landmarks_mr=landmarks_mr,
                    )  # fmt: skip
                finally:
                    elastix.DEFORMABLE_NGF_TOLERANCE, elastix.DEFORMABLE_SKIN_TOLERANCE_MM = tolerances
                report = result.report
                record = {
                    "deformation_mm": deformation,
                    "variant": variant,
                    "case": case,
                    "seconds": round(time.perf_counter() - started, 1),
                    "rigid": report["tre_mm_rigid_only"],
                    "bspline": report["tre_mm"],
                    "stage": report["bspline_stage"],
                }
                record["kept"] = decision(record["stage"])
                record["truth_keep"] = record["bspline"]["mean"] < record["rigid"]["mean"]
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(record, indent=1) + "\n")
                records.append(record)
                r, b = record["rigid"], record["bspline"]
                print(
                    f"{deformation:g} mm {variant:20s} {case}: rigid {r['mean']:.2f}/{r['max']:.2f}  B-spline "
                    f"{b['mean']:.2f}/{b['max']:.2f} mm  kept {record['kept']!s:5s} "
                    f"(truth {record['truth_keep']!s:5s}) {record['seconds']:.0f} s",
                    flush=True,
                )
    summary(records)


def summary(records: list[dict]) -> None:
    print(
        "\nfamily, variant: mean TRE rigid -> B-spline -> as decided (mm); worst landmark; pairs kept; decision right"
    )
    keys = sorted(
        {(r["deformation_mm"], r["variant"]) for r in records}, key=lambda k: (k[0], list(VARIANTS).index(k[1]))
    )
    for deformation, variant in keys:
        rows = [r for r in records if (r["deformation_mm"], r["variant"]) == (deformation, variant)]
        rigid = np.array([r["rigid"]["mean"] for r in rows])
        bspline = np.array([r["bspline"]["mean"] for r in rows])
        decided = np.array([r["bspline"]["mean"] if r["kept"] else r["rigid"]["mean"] for r in rows])
        worst = (max(r["rigid"]["max"] for r in rows), max(r["bspline"]["max"] for r in rows))
        right = sum(r["kept"] == r["truth_keep"] for r in rows)
        print(
            f"  {deformation:g} mm {variant:20s} {rigid.mean():.3f} -> {bspline.mean():.3f} -> {decided.mean():.3f}"
            f"  worst {worst[0]:.2f} -> {worst[1]:.2f}  better {int((bspline < rigid).sum())}/{len(rows)}"
            f"  kept {sum(r['kept'] for r in rows)}/{len(rows)}  right {right}/{len(rows)}"
        )


if __name__ == "__main__":
    main()
