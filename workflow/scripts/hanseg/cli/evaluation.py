"""The evaluation commands: `hanseg evaluate` (one case) and `hanseg table2` (the paper's Table 2)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hanseg.core import defaults

log = logging.getLogger("hanseg")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from hanseg.jobs.evaluation import evaluate

    rows = evaluate(
        args.pred,
        args.out,
        reference=args.ref,
        fov=args.fov_mask,
        case=args.case,
        min_fov_fraction=args.min_fov_fraction,
        percentile=args.percentile,
        resample_prediction=args.resample_prediction,
        resolve_overlaps=args.resolve_overlaps,
    )
    scored = [r for r in rows if r["evaluated"]]
    mean_dc = sum(r["dc"] for r in scored) / len(scored) if scored else float("nan")
    print(f"{args.out}: {len(scored)} of {len(rows)} organs evaluated, mean DC {mean_dc:.3f}")


def add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="Dice and HD95 per organ of one case, inside the MR field of view")
    p.add_argument("--ref", type=Path, required=True, help="folder of per-organ masks, or a label map (official ids)")
    p.add_argument("--pred", type=Path, required=True, help="label map with the official ids, or a folder of masks")
    p.add_argument("--fov-mask", type=Path, help="the MR's field of view on the reference grid")
    p.add_argument("--case", help="case id for the table (default: guessed from the paths)")
    p.add_argument("--out", type=Path, required=True, help="per-case TSV to write")
    p.add_argument(
        "--min-fov-fraction",
        type=float,
        default=defaults.MIN_FOV_FRACTION,
        help="evaluate organs with more than this fraction of their volume in the FoV (default %(default)s)",
    )
    p.add_argument(
        "--percentile", type=float, default=defaults.HD_PERCENTILE, help="Hausdorff percentile (default %(default)s)"
    )
    p.add_argument(
        "--resample-prediction",
        action="store_true",
        help="bring the prediction onto the reference grid (nearest neighbour) instead of failing",
    )
    p.add_argument(
        "--resolve-overlaps",
        action="store_true",
        help="with a folder of reference masks: score the label map the training rule makes of them (the smaller "
        "organ keeps shared voxels) instead of each full mask",
    )
    p.set_defaults(func=cmd_evaluate)


def cmd_table2(args: argparse.Namespace) -> None:
    from hanseg.evaluation.case_tables import read_case_tables
    from hanseg.jobs.evaluation import table2
    from hanseg.reporting.paper_comparison import Table2Files

    bootstrap = {key: getattr(args, key) for key in ("resamples", "seed", "confidence", "min_cases")}
    outputs = Table2Files.in_folder(args.out_dir)
    table2(read_case_tables(args.per_case), outputs, bootstrap)
    print(outputs.table2_md)


def add_table2_parser(sub) -> None:
    p = sub.add_parser(
        "table2",
        help="the paper's Table 2 (csv, md, tex), the surface-metric table and the comparison with the paper "
        "(bootstrap CIs, verdicts)",
    )
    p.add_argument("per_case", type=Path, nargs="+", help="per-case TSVs (hanseg evaluate's, or per_case.tsv)")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument(
        "--resamples", type=int, default=defaults.BOOTSTRAP_RESAMPLES, help="bootstrap resamples (default %(default)s)"
    )
    p.add_argument("--seed", type=int, default=defaults.BOOTSTRAP_SEED, help="bootstrap seed (default %(default)s)")
    p.add_argument(
        "--confidence",
        type=float,
        default=defaults.BOOTSTRAP_CONFIDENCE,
        help="confidence level of the CIs (default %(default)s)",
    )
    p.add_argument(
        "--min-cases",
        type=int,
        default=defaults.BOOTSTRAP_MIN_CASES,
        help="fewer test cases with the organ: verdict n/a (default %(default)s)",
    )
    p.set_defaults(func=cmd_table2)


def add_parsers(sub) -> None:
    add_evaluate_parser(sub)
    add_table2_parser(sub)
