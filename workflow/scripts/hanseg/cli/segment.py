"""`hanseg segment`: a trained model applied to a new CT (and T1 MR)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hanseg.cli.options import qc_thresholds
from hanseg.core import defaults

log = logging.getLogger("hanseg")


def cmd_segment(args: argparse.Namespace) -> None:
    from hanseg.jobs.segment import segment_case

    summary = segment_case(
        args.ct,
        args.mr,
        args.model,
        args.out,
        device=args.device,
        threads=args.threads,
        folds=args.folds,
        force=args.force,
        qc_thresholds=dict(args.qc or []),
        backmap=args.backmap,
        intermediates=args.keep_intermediates,
        postprocessing=not args.no_postprocessing,
    )
    found = sum(1 for voxels in summary["organ_voxels"].values() if voxels)
    print(
        f"{summary['labels']} and {Path(summary['slicer']).name}: {found} of {len(summary['organ_voxels'])} organs, "
        f"{summary['seconds']['total']:.0f} s"
    )


def add_segment_parser(sub) -> None:
    p = sub.add_parser(
        "segment",
        help="apply a trained model to a new CT (+ T1 MR): label map on the CT's own grid and a Slicer .seg.nrrd",
    )
    p.add_argument("--ct", type=Path, required=True, help="the patient's CT (HU), as HaN-Seg's *_IMG_CT.nrrd")
    p.add_argument(
        "--mr",
        type=Path,
        help="the patient's T1 MR, unregistered (needed by a model with MR channels, unless modality "
        "dropout trained it for CT alone)",
    )
    p.add_argument(
        "--no-postprocessing",
        action="store_true",
        help="leave out the model's post-processing decision (postprocessing.json in a cross-validated model folder)",
    )
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        help="the workflow's model folder: .../nnunet/results/Dataset<id>_<name>/<trainer>__<plans>__<configuration>",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="label map to write (.nrrd); the .seg.nrrd is written beside it"
    )
    p.add_argument(
        "--device",
        choices=defaults.NNUNET_DEVICES,
        default=defaults.NNUNET_DEVICE,
        help="where nnU-Net predicts (default %(default)s, as the workflow's nnunet.device; cpu on a machine without "
        "a GPU)",
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads for elastix and nnU-Net (default 1)")
    p.add_argument("--folds", nargs="+", help="only these folds (default: every fold in the folder, as an ensemble)")
    p.add_argument(
        "--backmap",
        choices=defaults.BACKMAP_METHODS,
        default=defaults.BACKMAP,
        help="onto the CT's grid: interpolate the organs' probabilities (default) or the label map's nearest voxel",
    )
    p.add_argument(
        "--keep-intermediates",
        type=Path,
        metavar="DIR",
        help="keep the registration (with its QC picture), the resampled images and the model-grid prediction here",
    )
    p.add_argument("--force", action="store_true", help="go on when the registration's QC says fail")
    p.add_argument(
        "--qc",
        type=qc_thresholds,
        action="append",
        metavar="CHECK=WARN,FAIL",
        help="registration QC thresholds of one check (repeatable), as for hanseg register",
    )
    p.set_defaults(func=cmd_segment)


def add_parsers(sub) -> None:
    add_segment_parser(sub)
