"""The dataset stage's commands: `hanseg phantom`, `download`, `extract`, `inventory`, `clip-ct`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hanseg.cli.options import positive_mm, shape, spacing
from hanseg.core import defaults

log = logging.getLogger("hanseg")


def cmd_phantom(args: argparse.Namespace) -> None:
    from hanseg.dataset.phantom import PhantomOptions, generate

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


def add_phantom_parser(sub) -> None:
    p = sub.add_parser("phantom", help="write synthetic heads in the exact HaN-Seg layout")
    p.add_argument("out", type=Path, help="output folder (gets HaN-Seg/ or HaN-Seg.zip, and truth/)")
    p.add_argument("--cases", type=int, default=defaults.PHANTOM_CASES, help="number of cases (default %(default)s)")
    p.add_argument("--seed", type=int, default=defaults.PHANTOM_SEED, help="same seed, same data (default %(default)s)")
    default_shape = "x".join(map(str, defaults.PHANTOM_SHAPE))
    p.add_argument(
        "--shape",
        type=shape,
        default=defaults.PHANTOM_SHAPE,
        help=f"CT matrix x,y,z (default {default_shape}; 512x512x150 is realistic)",
    )
    p.add_argument(
        "--fov-mm",
        type=positive_mm,
        default=defaults.PHANTOM_FOV_MM,
        help="CT in-plane field of view in mm (default: 300; the real CTs: 500-800, case_01 571)",
    )
    p.add_argument(
        "--slice-mm",
        type=positive_mm,
        default=defaults.PHANTOM_SLICE_MM,
        help="CT slice spacing in mm (default: 310 mm over the slices; the real CTs: 2-3)",
    )
    p.add_argument(
        "--mr-shape",
        type=shape,
        default=defaults.PHANTOM_MR_SHAPE,
        help="MR matrix x,y,z (default: the CT's in-plane size, 40%% of its slices; the real MRs: 512x512x40-152)",
    )
    p.add_argument(
        "--mr-spacing",
        type=spacing,
        default=defaults.PHANTOM_MR_SPACING,
        help="MR spacing x,y,z in mm (default: 240 mm over the matrix in-plane, 210 mm over the slices; the real "
        "MRs: 0.47-0.82 in-plane, 3-5 mm slices)",
    )
    p.add_argument("--zip", action="store_true", help="write HaN-Seg.zip like Zenodo's instead of the folder")
    p.set_defaults(func=cmd_phantom)


def cmd_download(args: argparse.Namespace) -> None:
    from hanseg.dataset.download import download_file

    download_file(args.url, args.out, sha256=args.sha256, size=args.size or None, retries=args.retries)
    print(args.out)


def add_download_parser(sub) -> None:
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


def cmd_extract(args: argparse.Namespace) -> None:
    from hanseg.jobs.dataset import extract_archive

    print(extract_archive(args.zip, args.out_dir, args.manifest, source="zip", strict=False))


def add_extract_parser(sub) -> None:
    p = sub.add_parser("extract", help="safely extract HaN-Seg.zip and check its layout")
    p.add_argument("zip", type=Path)
    p.add_argument("--out-dir", type=Path, required=True, help="folder to extract into (replaced atomically)")
    p.add_argument("--manifest", type=Path, help="also write the dataset manifest JSON here")
    p.set_defaults(func=cmd_extract)


def cmd_inventory(args: argparse.Namespace) -> None:
    from hanseg.core import dataset_layout
    from hanseg.dataset import archive
    from hanseg.dataset.inventory import CaseValidationError, dataset_metadata, inspect_case, log_warnings, write_tables

    root = dataset_layout.find_data_root(args.data)
    if root is None:
        raise archive.ArchiveError(f"{args.data}: no HaN-Seg dataset (no {dataset_layout.TRAIN_SET}/ folder) found")
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


def add_inventory_parser(sub) -> None:
    p = sub.add_parser("inventory", help="validate a HaN-Seg folder and write cases.tsv and organs.tsv")
    p.add_argument("data", type=Path, help="HaN-Seg folder (the one holding set_1/, or its parent)")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--cases", nargs="*", help="only these cases (default: all case folders)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.set_defaults(func=cmd_inventory)


def cmd_clip_ct(args: argparse.Namespace) -> None:
    from hanseg.core.images import clip_ct_file

    counts = clip_ct_file(args.ct, args.out, args.lower, args.upper)
    log.info("clipped %s: %s", args.ct, counts)


def add_clip_ct_parser(sub) -> None:
    p = sub.add_parser("clip-ct", help="clip a CT's HU range, keeping its geometry exactly")
    p.add_argument("ct", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lower", type=float, default=defaults.HU_CLIP[0], help="HU (default %(default)s)")
    p.add_argument("--upper", type=float, default=defaults.HU_CLIP[1], help="HU (default %(default)s)")
    p.set_defaults(func=cmd_clip_ct)


def add_parsers(sub) -> None:
    add_phantom_parser(sub)
    add_download_parser(sub)
    add_extract_parser(sub)
    add_inventory_parser(sub)
    add_clip_ct_parser(sub)
