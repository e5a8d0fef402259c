"""The registration and preprocessing commands: `hanseg register`, `hanseg resample`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hanseg.cli.options import default_qc, qc_thresholds
from hanseg.core import defaults

log = logging.getLogger("hanseg")


def cmd_register(args: argparse.Namespace) -> None:
    from hanseg.core.defaults import resolve_data_files
    from hanseg.jobs.registration import RegistrationFiles, RegistrationInputs, register_mr
    from hanseg.registration.errors import RegistrationQCError

    if (args.landmarks_ct is None) != (args.landmarks_mr is None):
        raise ValueError("give both --landmarks-ct and --landmarks-mr, or neither")
    inputs = RegistrationInputs(
        args.ct, args.mr, resolve_data_files(args.params, what="--params"), args.landmarks_ct, args.landmarks_mr
    )
    outputs = RegistrationFiles.in_folder(args.out_dir, stages=len(inputs.parameter_files))
    options = {"initialisation": args.initialisation, "qc_thresholds": dict(args.qc or []), "threads": args.threads}
    # A fail raises (exit status 1, one line); a warn is said on stderr and the command succeeds.
    try:
        report = register_mr(inputs, outputs, on_fail="error", case=args.case or "", **options)
    except RegistrationQCError:
        print(outputs.report)
        raise
    print(outputs.report)
    qc = report["qc"]
    if qc["status"] == "warn":
        print(
            f"hanseg register: warning: {args.case or args.mr}: registration QC warn: {qc['measure']} {qc['value']} "
            f"(warn from {qc['thresholds']['warn']}, fail from {qc['thresholds']['fail']}); see {outputs.qc}",
            file=sys.stderr,
        )


def add_register_parser(sub) -> None:
    p = sub.add_parser("register", help="register an MR to its CT with elastix (rigid + B-spline)")
    p.add_argument("--ct", type=Path, required=True, help="fixed image (the organs live on its grid)")
    p.add_argument("--mr", type=Path, required=True, help="moving image")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument(
        "--params",
        nargs="+",
        default=list(defaults.ELASTIX_PARAMETER_FILES),
        help="elastix parameter files, applied in order; hanseg:<name> is a file shipped with the package "
        "(default: %(default)s)",
    )
    p.add_argument("--landmarks-ct", type=Path, help="CSV name,x,y,z (LPS mm) for the TRE")
    p.add_argument("--landmarks-mr", type=Path, help="CSV name,x,y,z (LPS mm) for the TRE")
    p.add_argument(
        "--initialisation",
        choices=defaults.schema()["properties"]["registration"]["properties"]["initialisation"]["enum"],
        default=defaults.REGISTRATION_INITIALISATION,
        help="head_search: find the head in both images (HaN-Seg's headers share no coordinates); headers: trust "
        "them (default %(default)s)",
    )
    p.add_argument(
        "--qc",
        type=qc_thresholds,
        action="append",
        metavar="CHECK=WARN,FAIL",
        help="QC thresholds of one check (repeatable; the others keep the config's defaults): "
        + ", ".join(f"{name} {t['warn']:g},{t['fail']:g}" for name, t in default_qc().items())
        + ". warn: flagged, exit status 0; fail: exit status 1",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--case", help="case id for messages")
    p.set_defaults(func=cmd_register)


def cmd_resample(args: argparse.Namespace) -> None:
    from hanseg.preprocessing.resampling import ResampledFiles, resample_case_files

    summary = resample_case_files(
        args.ct,
        args.mr,
        args.fov,
        args.case_dir,
        ResampledFiles.in_folder(args.out_dir),
        spacing_xyz=args.spacing,
        hu_range=args.hu_range,
        body_crop=args.body_crop,
        case=args.case or (args.case_dir.name if args.case_dir else ""),
    )
    print(f"{args.out_dir}: {summary['size']} voxels, {len(summary['organ_voxels'])} organs")


def add_resample_parser(sub) -> None:
    p = sub.add_parser("resample", help="CT, registered MR, FoV mask and organ masks onto one grid")
    p.add_argument("--ct", type=Path, required=True)
    p.add_argument("--mr", type=Path, help="MR already in CT space (hanseg register's mr_in_ct.nrrd)")
    p.add_argument("--fov", type=Path, help="the MR's field of view in CT space (fov_mask.nrrd)")
    p.add_argument("--case-dir", type=Path, help="HaN-Seg case folder with the *_OAR_*.seg.nrrd masks")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        default=defaults.TARGET_SPACING,
        metavar=("X", "Y", "Z"),
        help="target grid in mm (default %(default)s)",
    )
    p.add_argument(
        "--hu-range",
        type=float,
        nargs=2,
        default=defaults.HU_CLIP,
        metavar=("LOW", "HIGH"),
        help="CT clipped to this range after resampling (default %(default)s)",
    )
    p.add_argument(
        "--body-crop",
        action=argparse.BooleanOptionalAction,
        default=defaults.BODY_CROP,
        help="crop to the body plus 10 mm (default %(default)s)",
    )
    p.add_argument("--case", help="case id for messages")
    p.set_defaults(func=cmd_resample)


def add_parsers(sub) -> None:
    add_register_parser(sub)
    add_resample_parser(sub)
