"""`hanseg`: the command line over the same functions the Snakemake rules call.

Each subcommand imports only what it needs, so `hanseg --help` is instant and works without torch or elastix.
Bad input ends with exit status 1 and one line per problem naming the file (several problems of a case: one line
each), never a traceback (`-v` shows it). Defaults are the config schema's (:mod:`hanseg.defaults`), so a command
run without options does what the workflow does with its default config; where a command writes several files
into a folder, their names come from the package function it calls (the rules pass their declared outputs instead).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import defaults
from .errors import report_lines

log = logging.getLogger("hanseg")


def _shape(text: str) -> tuple[int, int, int]:
    parts = [int(v) for v in text.lower().replace("x", ",").split(",") if v.strip()]
    if len(parts) != 3 or min(parts) < 8:
        raise argparse.ArgumentTypeError(f"expected three sizes >= 8 like 128x128x60, got {text!r}")
    return parts[0], parts[1], parts[2]


def _spacing(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(v) for v in text.lower().replace("x", ",").split(",") if v.strip()]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"expected three spacings > 0 in mm like 0.5x0.5x3, got {text!r}")
    return parts[0], parts[1], parts[2]


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a length > 0 in mm, got {text!r}")
    return value


def cmd_phantom(args: argparse.Namespace) -> None:
    from .phantom import PhantomOptions, generate

    options = PhantomOptions(
        cases=args.cases,
        seed=args.seed,
        ct_shape=args.shape,
        mr_shape=args.mr_shape,
        ct_fov_mm=args.fov_mm,
        ct_slice_mm=args.slice_mm,
        mr_spacing_mm=args.mr_spacing,
    )
    target = generate(args.out, options, as_zip=args.zip)
    print(target)


def cmd_download(args: argparse.Namespace) -> None:
    from .download import download_file

    download_file(args.url, args.out, sha256=args.sha256, size=args.size or None, retries=args.retries)
    print(args.out)


def cmd_extract(args: argparse.Namespace) -> None:
    from .archive import check_layout, extract_zip, write_manifest

    root = extract_zip(args.zip, args.out_dir)
    cases = check_layout(root)
    if args.manifest:
        write_manifest(args.manifest, root, "zip", cases)
    print(root)


def cmd_inventory(args: argparse.Namespace) -> None:
    from . import archive, layout
    from .inventory import CaseValidationError, dataset_metadata, inspect_case, log_warnings, write_tables

    root = layout.find_data_root(args.data)
    if root is None:
        raise archive.ArchiveError(f"{args.data}: no HaN-Seg dataset (no {layout.TRAIN_SET}/ folder) found")
    cases = args.cases or archive.check_layout(root, strict=args.strict)
    availability, patients = dataset_metadata(root)
    records, failures = [], []
    for case in cases:  # every case is checked, so one run names every problem of every case
        try:
            records.append(inspect_case(root, case, availability, patients, strict=args.strict))
        except CaseValidationError as error:
            failures.append(error)
    log_warnings(records)
    if failures:
        raise CaseValidationError("\n".join(str(error) for error in failures))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tables(records, out / "cases.tsv", out / "organs.tsv")
    print(out / "cases.tsv")


def cmd_clip_ct(args: argparse.Namespace) -> None:
    from .images import clip_ct_file

    counts = clip_ct_file(args.ct, args.out, args.lower, args.upper)
    log.info("clipped %s: %s", args.ct, counts)


def cmd_register(args: argparse.Namespace) -> None:
    from .defaults import resolve_data_files
    from .images import read_image
    from .landmarks import read_landmarks
    from .registration import check_qc, register, write_outputs

    if (args.landmarks_ct is None) != (args.landmarks_mr is None):
        raise ValueError("give both --landmarks-ct and --landmarks-mr, or neither")
    landmarks = {}
    if args.landmarks_ct:
        landmarks = {
            "landmarks_ct": read_landmarks(args.landmarks_ct),
            "landmarks_mr": read_landmarks(args.landmarks_mr),
        }
    ct, mr = read_image(args.ct), read_image(args.mr)
    result = register(
        ct,
        mr,
        resolve_data_files(args.params, what="--params"),
        args.out_dir,
        threads=args.threads,
        initialisation=args.initialisation,
        qc_thresholds=dict(args.qc or []),
        case=args.case or "",
        **landmarks,
    )
    write_outputs(result, args.out_dir, args.out_dir / "qc.png", ct, title=args.case or "")
    print(args.out_dir / "registration.json")
    qc = result.report["qc"]
    # A fail raises (exit status 1, one line); a warn is said on stderr and the command succeeds.
    check_qc(result.report, args.case or str(args.mr), args.out_dir / "qc.png")
    if qc["status"] == "warn":
        print(
            f"hanseg register: warning: {args.case or args.mr}: registration QC warn: {qc['measure']} {qc['value']} "
            f"(warn from {qc['thresholds']['warn']}, fail from {qc['thresholds']['fail']}); see "
            f"{args.out_dir / 'qc.png'}",
            file=sys.stderr,
        )


def _default_qc() -> dict:
    from .alignment import default_thresholds

    return default_thresholds()


def _qc_thresholds(text: str) -> tuple[str, dict[str, float]]:
    """CHECK=WARN,FAIL -> (check, {"warn", "fail"})."""
    try:
        name, values = text.split("=", 1)
        warn, fail = (float(v) for v in values.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected CHECK=WARN,FAIL, got {text!r}") from error
    if name not in _default_qc():
        raise argparse.ArgumentTypeError(f"unknown QC check {name!r} (known: {', '.join(_default_qc())})")
    return name, {"warn": warn, "fail": fail}


def cmd_resample(args: argparse.Namespace) -> None:
    from .resampling import ResampledFiles, resample_case_files

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


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation_files import evaluate_files
    from .per_case import write_case_table

    rows = evaluate_files(
        args.ref,
        args.pred,
        args.fov_mask,
        case=args.case,
        min_fov_fraction=args.min_fov_fraction,
        percentile=args.percentile,
        resample_prediction=args.resample_prediction,
        resolve_overlaps=args.resolve_overlaps,
    )
    write_case_table(rows, args.out)
    scored = [r for r in rows if r["evaluated"]]
    mean_dc = sum(r["dc"] for r in scored) / len(scored) if scored else float("nan")
    print(f"{args.out}: {len(scored)} of {len(rows)} organs evaluated, mean DC {mean_dc:.3f}")


def cmd_table2(args: argparse.Namespace) -> None:
    from .per_case import read_case_tables
    from .reproduction import Bootstrap, Table2Files, write_tables

    options = Bootstrap(resamples=args.resamples, seed=args.seed, confidence=args.confidence, min_cases=args.min_cases)
    outputs = Table2Files.in_folder(args.out_dir)
    write_tables(read_case_tables(args.per_case), outputs, options)
    print(outputs.table2_md)


def cmd_segment(args: argparse.Namespace) -> None:
    from .segment import segment_case

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
    )
    found = sum(1 for voxels in summary["organ_voxels"].values() if voxels)
    print(
        f"{summary['labels']} and {Path(summary['slicer']).name}: {found} of {len(summary['organ_voxels'])} organs, "
        f"{summary['seconds']['total']:.0f} s"
    )


def cmd_status(args: argparse.Namespace) -> None:
    from .runstate import describe, status

    if not args.directory.is_dir():
        raise FileNotFoundError(f"{args.directory}: no such folder")
    print(describe(status(args.directory)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hanseg", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("phantom", help="write synthetic heads in the exact HaN-Seg layout")
    p.add_argument("out", type=Path, help="output folder (gets HaN-Seg/ or HaN-Seg.zip, and truth/)")
    p.add_argument("--cases", type=int, default=defaults.PHANTOM_CASES, help="number of cases (default %(default)s)")
    p.add_argument("--seed", type=int, default=defaults.PHANTOM_SEED, help="same seed, same data (default %(default)s)")
    shape = "x".join(map(str, defaults.PHANTOM_SHAPE))
    p.add_argument(
        "--shape",
        type=_shape,
        default=defaults.PHANTOM_SHAPE,
        help=f"CT matrix x,y,z (default {shape}; 512x512x150 is realistic)",
    )
    p.add_argument(
        "--fov-mm",
        type=_positive,
        default=defaults.PHANTOM_FOV_MM,
        help="CT in-plane field of view in mm (default: 300; the real CTs: 500-800, case_01 571)",
    )
    p.add_argument(
        "--slice-mm",
        type=_positive,
        default=defaults.PHANTOM_SLICE_MM,
        help="CT slice spacing in mm (default: 310 mm over the slices; the real CTs: 2-3)",
    )
    p.add_argument(
        "--mr-shape",
        type=_shape,
        default=defaults.PHANTOM_MR_SHAPE,
        help="MR matrix x,y,z (default: the CT's in-plane size, 40%% of its slices; the real MRs: 512x512x40-152)",
    )
    p.add_argument(
        "--mr-spacing",
        type=_spacing,
        default=defaults.PHANTOM_MR_SPACING,
        help="MR spacing x,y,z in mm (default: 240 mm over the matrix in-plane, 210 mm over the slices; the real "
        "MRs: 0.47-0.82 in-plane, 3-5 mm slices)",
    )
    p.add_argument("--zip", action="store_true", help="write HaN-Seg.zip like Zenodo's instead of the folder")
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser("download", help="resumable, checksum-verified download (HaN-Seg.zip from Zenodo)")
    p.add_argument("--url", default=defaults.ZENODO_URL, help="default: Zenodo's HaN-Seg.zip (record 7442914)")
    p.add_argument("--out", type=Path, default=Path("HaN-Seg.zip"))
    p.add_argument(
        "--sha256",
        default=defaults.ZENODO_SHA256,
        help="expected SHA-256 (default: Zenodo's HaN-Seg.zip; empty string: do not verify)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=defaults.ZENODO_SIZE,
        help="expected size in bytes (default: Zenodo's HaN-Seg.zip, %(default)s; 0: unknown)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=defaults.DOWNLOAD_RETRIES,
        help="consecutive failed attempts before giving up (default %(default)s)",
    )
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("extract", help="safely extract HaN-Seg.zip and check its layout")
    p.add_argument("zip", type=Path)
    p.add_argument("--out-dir", type=Path, required=True, help="folder to extract into (replaced atomically)")
    p.add_argument("--manifest", type=Path, help="also write the dataset manifest JSON here")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("inventory", help="validate a HaN-Seg folder and write cases.tsv and organs.tsv")
    p.add_argument("data", type=Path, help="HaN-Seg folder (the one holding set_1/, or its parent)")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--cases", nargs="*", help="only these cases (default: all case folders)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.set_defaults(func=cmd_inventory)

    p = sub.add_parser("clip-ct", help="clip a CT's HU range, keeping its geometry exactly")
    p.add_argument("ct", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lower", type=float, default=defaults.HU_CLIP[0], help="HU (default %(default)s)")
    p.add_argument("--upper", type=float, default=defaults.HU_CLIP[1], help="HU (default %(default)s)")
    p.set_defaults(func=cmd_clip_ct)

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
        type=_qc_thresholds,
        action="append",
        metavar="CHECK=WARN,FAIL",
        help="QC thresholds of one check (repeatable; the others keep the config's defaults): "
        + ", ".join(f"{name} {t['warn']:g},{t['fail']:g}" for name, t in _default_qc().items())
        + ". warn: flagged, exit status 0; fail: exit status 1",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--case", help="case id for messages")
    p.set_defaults(func=cmd_register)

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

    p = sub.add_parser(
        "segment",
        help="apply a trained model to a new CT (+ T1 MR): label map on the CT's own grid and a Slicer .seg.nrrd",
    )
    p.add_argument("--ct", type=Path, required=True, help="the patient's CT (HU), as HaN-Seg's *_IMG_CT.nrrd")
    p.add_argument("--mr", type=Path, help="the patient's T1 MR, unregistered (needed by a model with MR channels)")
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        help="the workflow's model folder: .../nnunet/results/Dataset<id>_<name>/<trainer>__<plans>__<configuration>",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="label map to write (.nrrd); the .seg.nrrd is written beside it"
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where nnU-Net predicts (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for elastix and nnU-Net (default 1)")
    p.add_argument("--folds", nargs="+", help="only these folds (default: every fold in the folder, as an ensemble)")
    p.add_argument(
        "--backmap",
        choices=["probabilities", "nearest"],
        default="probabilities",
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
        type=_qc_thresholds,
        action="append",
        metavar="CHECK=WARN,FAIL",
        help="registration QC thresholds of one check (repeatable), as for hanseg register",
    )
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser(
        "status",
        help="is a Snakemake run in this folder alive, what did it leave incomplete, the command that resumes it",
    )
    p.add_argument("directory", nargs="?", type=Path, default=Path("."), help="the run's folder (default: here)")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except Exception as error:
        # One line per problem for a user at a terminal (the rules' logs get the same lines); a bug keeps its
        # traceback, and so does everything with -v.
        lines = report_lines(error, user_errors=(ValueError, RuntimeError))
        if lines is None or args.verbose:
            raise
        for line in lines:
            print(f"hanseg {args.command}: error: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
