"""Calibrate the registration QC on the realistic family: candidates' separation, false fail/pass rates, a figure.

For each pair of a seeded family (:mod:`hanseg.dataset.phantom_family`): the registration (TRE rigid only and rigid +
B-spline, seconds), the same result offset by 3, 5, 10 and 20 mm and rotated by 3, 5 and 10 degrees, and the
registration of the MR mirrored left-right; every candidate measure of :mod:`hanseg.registration.qc_measures` on each
(:mod:`hanseg.registration.qc_calibration`). Prints, per candidate, the worst good value, the best value among the
results that must be flagged (>= 5 mm, >= 5 degrees, mirrored) and the margin between them (negative: they overlap);
then, for the chosen measure at the config's default thresholds, the outcome counts per kind of result, the false-fail
rate (good results that fail) and the false-pass rate (must-flag results that pass). Writes the values (JSON) and the
distributions (PNG) into --out.

    python bench/bench_registration_qc.py --pairs 4 --shape 128x128x64 --out bench_qc
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from hanseg.core import defaults
from hanseg.dataset.phantom_family import RealisticOptions, generate
from hanseg.registration import qc_calibration, qc_measures


def _shape(text: str) -> tuple[int, int, int]:
    x, y, z = (int(v) for v in text.lower().split("x"))
    return x, y, z


def figure(records: list[dict], out_png: Path) -> None:
    from hanseg.reporting.figures.style import pyplot, save

    plt = pyplot()
    names = list(qc_measures.CANDIDATES)
    kinds = ["good"] + [name for name, _, _ in qc_calibration.FAILURES]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 4.2), constrained_layout=True)
    for ax, name in zip(axes, names, strict=True):
        for row, kind in enumerate(kinds):
            values = [r["values"][name] for p in records for r in p["results"] if r["name"] == kind]
            colour = "tab:green" if kind == "good" else "tab:red" if _must(kind) else "tab:orange"
            ax.scatter(values, [row] * len(values), s=18, color=colour)
        ax.set_yticks(range(len(kinds)), kinds if ax is axes[0] else [""] * len(kinds))
        ax.invert_yaxis()
        ax.set_title(name + (" (QC check)" if name in qc_measures.CHECKS else ""), fontsize=9)
        if name in qc_measures.CHECKS:
            for key, style in (("warn", ":"), ("fail", "--")):
                ax.axvline(qc_measures.default_thresholds()[name][key], color="k", linestyle=style, linewidth=1)
            if name != "mirror_nmi_gain":
                ax.set_xscale("log")
    fig.suptitle("Registration QC candidates on the realistic family (green: good, red: must be flagged)")
    save(fig, out_png)


def _must(name: str) -> bool:
    kind, size = next((k, s) for n, k, s in qc_calibration.FAILURES if n == name)
    return qc_calibration.must_flag(kind, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--shape", type=_shape, default=(128, 128, 64), help="CT matrix x*y*z (realistic: 512x512x160)")
    parser.add_argument("--mirrored", type=int, default=None, help="pairs whose mirrored MR is registered (all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--good-only",
        action="store_true",
        help="register the pairs only (TRE rigid only and rigid + B-spline, seconds, QC): no deliberate failures",
    )
    parser.add_argument("--out", type=Path, default=Path("bench_registration_qc"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    root = args.out / "family"
    if len(list((root / "truth").glob("case_*"))) < args.pairs:  # a pair does not depend on the count
        generate(root, RealisticOptions(cases=args.pairs, seed=args.seed, ct_shape=args.shape))
    parameter_files = defaults.resolve_data_files(defaults.ELASTIX_PARAMETER_FILES, what="parameter files")
    mirrored = args.pairs if args.mirrored is None else args.mirrored
    records = []
    for index in range(1, args.pairs + 1):
        case = f"case_{index:02d}"
        cached = args.out / "records" / f"{case}.json"  # a rerun (more pairs, an interrupted run) reuses pairs done
        tick = time.perf_counter()
        if cached.is_file():
            record = json.loads(cached.read_text())
        else:
            record = qc_calibration.evaluate_pair(
                root,
                case,
                parameter_files,
                args.out / "work" / case,
                threads=args.threads,
                mirrored=index <= mirrored,
                failures=not args.good_only,
            )
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(record, indent=1, default=float) + "\n")
        rigid = (record["tre_mm_rigid_only"] or {}).get("mean", float("nan"))
        print(
            f"{case}: registration {record['seconds']:.1f} s (pair with failures {time.perf_counter() - tick:.0f} s), "
            f"TRE mean/max rigid + B-spline {record['tre_mm']['mean']:.2f}/{record['tre_mm']['max']:.2f} mm, "
            f"rigid only {rigid:.2f} mm",
            flush=True,
        )
        records.append(record)
    (args.out / "records.json").write_text(json.dumps(records, indent=1, default=float) + "\n")

    if not args.good_only:
        print("\nper candidate: worst good, best must-flag, margin (units; in SDs of the good values)")
        for name, row in qc_calibration.margins(records).items():
            print(
                f"  {name:24s} {row['worst_good']:8.3f} {row['best_must_flag']:8.3f} {row['gap']:8.3f} "
                f"({row['gap_in_good_sd']:.2f} SD){'  <- QC check' if name in qc_measures.CHECKS else ''}"
            )
        print("\nper check, on the failures it is there for (worst good, best of those failures, margin):")
        for name, kinds in (("realignment_mm", ("offset", "rotation")), ("mirror_nmi_gain", ("mirror",))):
            good = [r["values"][name] for p in records for r in p["results"] if r["kind"] == "good"]
            bad = [
                r["values"][name]
                for p in records
                for r in p["results"]
                if r["kind"] in kinds and qc_calibration.must_flag(r["kind"], r["size"])
            ]
            if bad:
                print(f"  {name:24s} {max(good):8.3f} {min(bad):8.3f} {min(bad) - max(good):8.3f}")
        thresholds = qc_measures.default_thresholds()
        counts = qc_calibration.qc_outcomes(records, thresholds)
        print(f"\nthe QC at the config's defaults {thresholds}: pass / warn / fail")
        for name, row in counts.items():
            print(f"  {name:16s} {row['pass']:3d} {row['warn']:3d} {row['fail']:3d}")
        good = counts["good"]
        must = [row for name, row in counts.items() if name != "good" and _must(name)]
        must_total = sum(sum(row.values()) for row in must)
        print(
            f"false fail (good results that fail): {good['fail']}/{sum(good.values())}; "
            f"good results that warn: {good['warn']}/{sum(good.values())}; "
            f"false pass (must-flag results that pass): {sum(r['pass'] for r in must)}/{must_total}; "
            f"must-flag results that fail: {sum(r['fail'] for r in must)}/{must_total}"
        )
    tre = np.array([r["tre_mm"]["mean"] for r in records])
    tre_max = np.array([r["tre_mm"]["max"] for r in records])
    rigid = np.array([(r["tre_mm_rigid_only"] or {}).get("mean", np.nan) for r in records])
    print(
        f"TRE mean over pairs rigid + B-spline {tre.mean():.2f} mm (per pair {tre.min():.2f}-{tre.max():.2f}, "
        f"max of any landmark {tre_max.max():.2f}); rigid only {np.nanmean(rigid):.2f} mm "
        f"({np.nanmin(rigid):.2f}-{np.nanmax(rigid):.2f}); pairs where the B-spline stage is worse than rigid only "
        f"by more than 0.1 mm: {int(np.sum(tre > rigid + 0.1))}/{len(records)}"
    )
    kept = [r["bspline_stage"]["kept"] for r in records if r.get("bspline_stage")]
    statuses = [r["qc"]["status"] for r in records if r.get("qc")]
    print(
        f"B-spline stage kept in {sum(kept)}/{len(kept)} pairs; QC of the good results: "
        + ", ".join(f"{s} {statuses.count(s)}" for s in qc_measures.STATUSES)
    )
    print("per pair: TRE mean/max rigid + B-spline (as kept), rigid only, seconds, QC")
    for r in records:
        print(
            f"  {r['case']}: {r['tre_mm']['mean']:.2f}/{r['tre_mm']['max']:.2f} mm, "
            f"{(r['tre_mm_rigid_only'] or {}).get('mean', float('nan')):.2f} mm, {r['seconds']:.0f} s, "
            f"{(r.get('qc') or {}).get('status')}"
        )
    print(f"mean seconds per registration: {np.mean([r['seconds'] for r in records]):.1f}")
    if not args.good_only:
        figure(records, args.out / "registration_qc_candidates.png")
        print(args.out / "registration_qc_candidates.png")


if __name__ == "__main__":
    main()
