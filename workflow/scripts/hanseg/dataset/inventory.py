"""The inventory: what each case holds, checked before any processing starts.

Policy (also in docs/data.md, "Validation: what stops a case and what is only a warning"). An *error* stops the case,
because every later step would be wrong or crash:
  - CT or MR file missing, or an image (CT, MR or mask) that cannot be read, is not 3D and scalar, or holds NaN or
    infinite values;
  - an organ mask not on the CT grid (size, spacing, origin or direction differ beyond :mod:`hanseg.core.images`'s
    tolerances);
  - an organ mask with values other than 0 and 1;
  - two mask files for one organ (names that differ only in upper/lower case).
A *warning* is logged and recorded in the tables, and the case goes on:
  - a mask file for an organ that OAR_data.csv marks absent (0): the file is used, it is the reference;
  - OAR_data.csv marks an organ present (1 or 0.5) but there is no file: the organ counts as not annotated;
  - an empty mask; a case missing from OAR_data.csv or patient_data.csv; a CSV cell that cannot be read;
  - a file in the case folder that is not the CT, the MR or a `case_NN_OAR_<Organ>.seg.nrrd` of the 30 organs.
`strict=True` turns every warning into an error. All problems of a case are collected and reported together, one
line each, naming the case and the file.

The rules (one ``inventory_case`` job per case, then ``inventory``) and ``hanseg inventory`` call the same
functions: :func:`dataset_metadata`, :func:`inspect_case`, :func:`log_warnings` and :func:`write_tables`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.core.errors import InputError, Problem
from hanseg.core.images import Grid, read_checked
from hanseg.dataset.metadata import OrganAvailability, Patients, read_organ_availability, read_patients

log = logging.getLogger(__name__)

#: What to do when a mask is not on its CT's grid.
MASK_GRID_FIX = "resample the mask onto the CT grid (nearest neighbour) or correct its header"


class CaseValidationError(InputError, RuntimeError):
    """A case that cannot be processed; the message has one line per problem, each naming the case and file."""


def geometry(image: sitk.Image) -> dict:
    return {
        "size": list(image.GetSize()),
        "spacing": [round(v, 6) for v in image.GetSpacing()],
        "origin": [round(v, 4) for v in image.GetOrigin()],
        "direction": [round(v, 6) for v in image.GetDirection()],
        "pixel_type": image.GetPixelIDTypeAsString(),
    }


def _read(path: Path, case: str, kind: str, problems: list[Problem]) -> sitk.Image | None:
    image, messages = read_checked(path, kind)
    problems += [Problem("error", case, path.name, message) for message in messages]
    return image


def _folder_not_found(data_root: Path | str, case: str, set_name: str) -> str:
    folder = dataset_layout.case_dir(data_root, case, set_name)
    _, off_pattern = dataset_layout.scan_case_folders(data_root, set_name)
    named = [
        p.file for p in off_pattern if dataset_layout.normalise_case_id(Path(p.file).name.replace(" ", "_")) == case
    ]
    hint = f" (found {', '.join(named)}: rename it {case})" if named else ""
    return f"{case}: case folder {folder} not found{hint}"


def dataset_metadata(
    data_root: Path | str, set_name: str = dataset_layout.TRAIN_SET
) -> tuple[OrganAvailability, Patients]:
    """The set's ``OAR_data.csv`` and ``patient_data.csv``, read once for all its cases."""
    set_folder = dataset_layout.set_dir(data_root, set_name)
    return read_organ_availability(set_folder / dataset_layout.OAR_CSV), read_patients(
        set_folder / dataset_layout.PATIENT_CSV
    )


def inspect_case(
    data_root: Path | str,
    case: str,
    availability: OrganAvailability | None,
    patients: Patients | None,
    *,
    set_name: str = dataset_layout.TRAIN_SET,
    strict: bool = False,
) -> dict:
    """Read and check one case; return its inventory record (JSON-able; its warnings are in ``warnings`` and
    ``csv_warnings``, for :func:`log_warnings`), or raise CaseValidationError."""
    folder = dataset_layout.case_dir(data_root, case, set_name)
    problems: list[Problem] = []
    record: dict = {"case": case, "folder": str(folder)}
    if not folder.is_dir():
        raise CaseValidationError(_folder_not_found(data_root, case, set_name))

    images = _inspect_images(folder, case, record, problems)
    case_availability, csv_warnings = _inspect_csv_rows(case, availability, patients, record, problems)

    organ_files, layout_problems = dataset_layout.scan_organ_files(folder, case)
    problems += layout_problems

    csv_values = case_availability if case_availability is not None else {}
    organs = [
        _inspect_organ(case, organ, organ_files.get(organ), csv_values.get(organ), images.get("ct"), problems)
        for organ in dataset_layout.ORGANS
    ]
    record["organs"] = organs
    record["organs_present"] = sum(r["file_present"] and r["voxels"] > 0 for r in organs)

    errors = [p for p in problems + csv_warnings if p.level == "error" or strict]
    record["warnings"] = [str(p) for p in problems if p not in errors]
    record["csv_warnings"] = [str(w) for w in csv_warnings if w not in errors]
    if errors:
        log_warnings([record])  # a failing case's record is not kept: say its warnings now
        raise CaseValidationError("\n".join(str(p) for p in errors))
    return record


def _inspect_images(folder: Path, case: str, record: dict, problems: list[Problem]) -> dict[str, sitk.Image]:
    """The case's CT and MR that could be read, by modality; their file names and geometry go into `record`."""
    images: dict[str, sitk.Image] = {}
    for modality, name in (("ct", dataset_layout.ct_name(case)), ("mr", dataset_layout.mr_name(case))):
        path = folder / name
        record[f"{modality}_file"] = name
        if not path.is_file():
            problems.append(Problem("error", case, name, f"missing {modality.upper()} image"))
            continue
        image = _read(path, case, "image", problems)
        if image is None:
            continue
        images[modality] = image
        array = sitk.GetArrayViewFromImage(image)
        record[modality] = {**geometry(image), "min": float(array.min()), "max": float(array.max())}
    return images


def _inspect_csv_rows(
    case: str,
    availability: OrganAvailability | None,
    patients: Patients | None,
    record: dict,
    problems: list[Problem],
) -> tuple[dict | None, list[Problem]]:
    """The case's row of OAR_data.csv (None if not listed or no CSV) and the problems of the CSV files as a whole;
    the case's age and gender go into `record`, the problems of its rows into `problems`."""
    case_availability = None
    csv_warnings: list[Problem] = []  # problems of a CSV file as a whole (an unknown column...), not of this case
    if availability is not None:
        case_availability = availability.values.get(case)
        if case_availability is None:
            problems.append(Problem("warning", case, dataset_layout.OAR_CSV, "case not listed"))
        problems += [w for w in availability.warnings if w.case == case]
        csv_warnings += [w for w in availability.warnings if not w.case]
    patient = None
    if patients is not None:
        patient = patients.values.get(case)
        if patient is None:
            problems.append(
                Problem("warning", case, dataset_layout.PATIENT_CSV, "case not listed: age and gender unknown")
            )
        problems += [w for w in patients.warnings if w.case == case]
        csv_warnings += [w for w in patients.warnings if not w.case]
    record["age"] = patient.age if patient else None
    record["gender"] = patient.gender if patient else None
    return case_availability, csv_warnings


def _inspect_organ(
    case: str,
    organ: str,
    path: Path | None,
    csv_value: float | None,
    ct: sitk.Image | None,
    problems: list[Problem],
) -> dict:
    """One organ's row of the record: its mask file (read and checked against the CT grid) and its CSV value."""
    row = {
        "organ": organ,
        "label_id": dataset_layout.LABEL_IDS[organ],
        "file": path.name if path else "",
        "file_present": path is not None,
        "voxels": 0,
        "volume_ml": 0.0,
        "availability_csv": csv_value,
        "status": "ok",
    }
    if path is not None:
        mask = _read(path, case, "mask", problems)
        if mask is not None:
            _measure_mask(case, path, mask, ct, row, problems)
        if csv_value == 0:
            row["status"] = "file_but_csv_absent"
            problems.append(
                Problem(
                    "warning",
                    case,
                    path.name,
                    f"{dataset_layout.OAR_CSV} marks {organ} absent (0) but the file exists; file used",
                )
            )
    elif csv_value is not None and csv_value > 0:
        row["status"] = "csv_present_but_no_file"
        problems.append(
            Problem(
                "warning",
                case,
                dataset_layout.organ_name(case, organ),
                f"{dataset_layout.OAR_CSV} marks {organ} as {csv_value:g} but the file is missing",
            )
        )
    else:
        row["status"] = "absent"
    return row


def _measure_mask(
    case: str, path: Path, mask: sitk.Image, ct: sitk.Image | None, row: dict, problems: list[Problem]
) -> None:
    """A read mask's grid check against the CT, and its voxel count and volume (an empty one: a warning)."""
    if ct is not None and (difference := Grid.of(ct).mismatch(Grid.of(mask))) is not None:
        problems.append(Problem("error", case, path.name, f"mask not on the CT grid: {difference}; {MASK_GRID_FIX}"))
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    row["voxels"] = voxels
    row["volume_ml"] = round(voxels * float(np.prod(mask.GetSpacing())) / 1000.0, 4)
    if voxels == 0:
        row["status"] = "empty"
        problems.append(Problem("warning", case, path.name, "empty mask"))


def log_warnings(records: list[dict]) -> None:
    """Log the warnings of inventory records: each case's, then each problem of a CSV file as a whole once (every
    case's record holds it)."""
    for record in records:
        for warning in record["warnings"]:
            log.warning("%s", warning)
    for warning in dict.fromkeys(w for record in records for w in record.get("csv_warnings", [])):
        log.warning("%s", warning)


def write_case_record(record: dict, path: Path | str) -> None:
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def _xyz(values: list | None, prefix: str) -> dict:
    values = values or [None, None, None]
    return {f"{prefix}_{axis}": v for axis, v in zip("xyz", values, strict=True)}


def case_row(record: dict) -> dict:
    """One row of cases.tsv."""
    row = {"case": record["case"], "ct_file": record.get("ct_file"), "mr_file": record.get("mr_file")}
    for modality in ("ct", "mr"):
        info = record.get(modality) or {}
        row |= _xyz(info.get("size"), f"{modality}_size")
        row |= _xyz(info.get("spacing"), f"{modality}_spacing")
        row |= _xyz(info.get("origin"), f"{modality}_origin")
        row[f"{modality}_direction"] = ",".join(f"{v:g}" for v in info.get("direction", []))
        row[f"{modality}_pixel_type"] = info.get("pixel_type")
        row[f"{modality}_min"] = info.get("min")
        row[f"{modality}_max"] = info.get("max")
    row["age"] = record.get("age")
    row["gender"] = record.get("gender")
    row["organs_present"] = record.get("organs_present")
    row["organs_missing"] = ",".join(r["organ"] for r in record["organs"] if not (r["file_present"] and r["voxels"]))
    row["warnings"] = len(record.get("warnings", []))
    return row


def write_tables(records: list[dict], cases_tsv: Path | str, organs_tsv: Path | str) -> None:
    """cases.tsv (one row per case) and organs.tsv (case x organ)."""
    import pandas as pd  # only the aggregation needs pandas

    cases = pd.DataFrame([case_row(r) for r in records])
    organs = pd.DataFrame([{"case": r["case"], **o} for r in records for o in r["organs"]])
    for frame, path in ((cases, cases_tsv), (organs, organs_tsv)):
        write_text_atomic(path, frame.to_csv(sep="\t", index=False))
