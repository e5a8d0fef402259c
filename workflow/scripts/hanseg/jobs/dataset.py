"""The dataset stage's jobs: the rules of workflow/rules/data.smk and split.smk, and clip_ct (preprocessing.smk).

Each function takes the rule's declared inputs, outputs and options by name; the rule's script and the ``hanseg``
command call it alike.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from hanseg.core.dataset_layout import find_data_root
from hanseg.core.images import clip_ct_file
from hanseg.dataset.archive import ArchiveError, check_layout, extract_zip, read_manifest, write_manifest
from hanseg.dataset.inventory import dataset_metadata, inspect_case, log_warnings, write_case_record, write_tables
from hanseg.dataset.phantom import PhantomOptions, generate
from hanseg.dataset.splits import make_split, write_split
from hanseg.registration.qc_verdict import failed_registrations, read_reports

log = logging.getLogger(__name__)


def make_phantom(
    archive: Path | str,
    truth: Path | str,
    *,
    cases: int,
    seed: int,
    shape: Iterable[int],
    fov_mm: float | None = None,
    slice_mm: float | None = None,
    mr_shape: Iterable[int] | None = None,
    mr_spacing: Iterable[float] | None = None,
) -> None:
    """The phantom's ``HaN-Seg.zip`` at `archive`, its ground truth in the folder `truth` beside it (options: config
    ``dataset.phantom``)."""
    options = PhantomOptions(
        cases=cases,
        seed=seed,
        ct_shape=tuple(shape),
        mr_shape=None if mr_shape is None else tuple(mr_shape),
        ct_fov_mm=fov_mm,
        ct_slice_mm=slice_mm,
        mr_spacing_mm=None if mr_spacing is None else tuple(mr_spacing),
    )
    generate(Path(archive).parent, options, as_zip=True)
    if not Path(truth).is_dir():
        raise RuntimeError(f"{truth}: the phantom generator wrote no ground-truth folder")


def extract_archive(
    archive: Path | str, target: Path | str, manifest: Path | str | None, *, source: str, strict: bool
) -> Path:
    """Unpack `archive` to `target` (atomically), check its layout, write the manifest the later rules read (if
    `manifest` is given); returns the data root."""
    root = extract_zip(archive, target)
    cases = check_layout(root, strict=strict)
    if manifest is not None:
        write_manifest(manifest, root, source, cases)
    return root


def use_local_folder(folder: Path | str, manifest: Path | str, *, strict: bool) -> None:
    """The user's extracted folder, read in place (5 GB are not copied and nothing is written into it)."""
    root = find_data_root(folder)
    if root is None:
        raise ArchiveError(f"{folder}: no set_1/ folder: not a HaN-Seg dataset")
    write_manifest(manifest, root, "local", check_layout(root, strict=strict))


def inventory_case(manifest: Path | str, record: Path | str, *, case: str, strict: bool) -> None:
    """One case's files checked and described (its record, read by every later per-case rule)."""
    root = Path(read_manifest(manifest)["data_root"])
    availability, patients = dataset_metadata(root)
    checked = inspect_case(root, case, availability, patients, strict=strict)
    log_warnings([checked])
    write_case_record(checked, record)


def inventory(records: Iterable[Path | str], cases: Path | str, organs: Path | str) -> None:
    """The cases' records as the two inventory tables (cases.tsv, organs.tsv)."""
    loaded = [json.loads(Path(path).read_text()) for path in records]
    log_warnings(loaded)  # every case's warnings in one log
    write_tables(loaded, cases, organs)


def clip_ct(record: Path | str, ct: Path | str, *, hu_range: tuple[float, float]) -> dict:
    """The case's CT with its HU clipped to `hu_range`, on its own grid; returns the clipped voxel counts."""
    case = json.loads(Path(record).read_text())
    lower, upper = hu_range
    counts = clip_ct_file(Path(case["folder"]) / case["ct_file"], ct, lower, upper)
    log.info("%s", counts)
    return counts


def split(
    cases: Path | str,
    split_tsv: Path | str,
    options: Mapping,
    registrations: Iterable[Path | str] | None = None,
) -> pd.DataFrame:
    """Set 1's cases into training and test (and folds); with `registrations` (registration.on_fail: exclude) the
    cases whose registration QC failed are given the role ``excluded`` instead."""
    excluded = failed_registrations(read_reports(registrations)) if registrations is not None else {}
    for case, reason in excluded.items():
        log.warning("%s excluded: %s", case, reason)
    table = make_split(
        pd.read_csv(cases, sep="\t"),
        options["method"],
        test_fraction=options["test_fraction"],
        folds=options["folds"],
        seed=options["seed"],
        stratify=options["stratify"],
        excluded=excluded,
    )
    write_split(table, split_tsv)
    return table
