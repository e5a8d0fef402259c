"""The inventory: what each case holds, checked before any processing starts.

Policy (also in the README). An *error* stops the case, because every later step would be wrong or crash:
  - CT or MR file missing, or an NRRD (image or mask) that cannot be read or is not 3D;
  - an organ mask not on the CT grid (size, spacing, origin or direction differ);
  - an organ mask with values other than 0 and 1.
A *warning* is logged and recorded in the tables, and the case goes on:
  - a mask file for an organ that OAR_data.csv marks absent (0): the file is used, it is the reference;
  - OAR_data.csv marks an organ present (1 or 0.5) but there is no file: the organ counts as not annotated;
  - an empty mask; a case missing from OAR_data.csv or patient_data.csv; a mask file with an unknown organ name.
`strict=True` turns every warning into an error. All problems of a case are collected and reported together, each
naming the case and the file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import layout
from .atomic import write_text_atomic
from .metadata import OrganAvailability, Patient

log = logging.getLogger(__name__)

# Tolerances for "on the same grid": NRRD headers round differently between writers.
ORIGIN_TOLERANCE_MM = 1e-3
SPACING_RELATIVE_TOLERANCE = 1e-5
DIRECTION_TOLERANCE = 1e-5


class CaseValidationError(RuntimeError):
    """A case that cannot be processed; the message lists every problem with its file."""


@dataclass
class Problem:
    level: str  # "error" | "warning"
    case: str
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.case}: {self.file}: {self.message}"


def geometry(image: sitk.Image) -> dict:
    return {
        "size": list(image.GetSize()),
        "spacing": [round(v, 6) for v in image.GetSpacing()],
        "origin": [round(v, 4) for v in image.GetOrigin()],
        "direction": [round(v, 6) for v in image.GetDirection()],
        "pixel_type": image.GetPixelIDTypeAsString(),
    }


def same_grid(a: sitk.Image, b: sitk.Image) -> str | None:
    """None if `b` lies on `a`'s grid, else what differs."""
    if a.GetSize() != b.GetSize():
        return f"size {b.GetSize()} != CT size {a.GetSize()}"
    if not np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=SPACING_RELATIVE_TOLERANCE, atol=0):
        return f"spacing {b.GetSpacing()} != CT spacing {a.GetSpacing()}"
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=ORIGIN_TOLERANCE_MM):
        return f"origin {b.GetOrigin()} != CT origin {a.GetOrigin()}"
    if not np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=DIRECTION_TOLERANCE):
        return f"direction {b.GetDirection()} != CT direction {a.GetDirection()}"
    return None


def _read(path: Path, case: str, problems: list[Problem]) -> sitk.Image | None:
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
        problems.append(Problem("error", case, path.name, f"unreadable NRRD ({first_line})"))
        return None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        problems.append(
            Problem(
                "error",
                case,
                path.name,
                f"expected a 3D scalar image, got {image.GetDimension()}D "
                f"with {image.GetNumberOfComponentsPerPixel()} components",
            )
        )
        return None
    return image


def inspect_case(
    data_root: Path | str,
    case: str,
    availability: OrganAvailability | None,
    patients: dict[str, Patient] | None,
    *,
    set_name: str = layout.TRAIN_SET,
    strict: bool = False,
) -> dict:
    """Read and check one case; return its inventory record (JSON-able), or raise CaseValidationError."""
    folder = layout.case_dir(data_root, case, set_name)
    problems: list[Problem] = []
    record: dict = {"case": case, "folder": str(folder)}
    if not folder.is_dir():
        raise CaseValidationError(f"{case}: case folder {folder} not found")

    images: dict[str, sitk.Image] = {}
    for modality, name in (("ct", layout.ct_name(case)), ("mr", layout.mr_name(case))):
        path = folder / name
        record[f"{modality}_file"] = name
        if not path.is_file():
            problems.append(Problem("error", case, name, f"missing {modality.upper()} image"))
            continue
        image = _read(path, case, problems)
        if image is None:
            continue
        images[modality] = image
        array = sitk.GetArrayViewFromImage(image)
        record[modality] = {**geometry(image), "min": float(array.min()), "max": float(array.max())}

    case_availability = None
    if availability is not None:
        case_availability = availability.values.get(case)
        if case_availability is None:
            problems.append(Problem("warning", case, layout.OAR_CSV, "case not listed"))
    patient = None
    if patients is not None:
        patient = patients.get(case)
        if patient is None:
            problems.append(Problem("warning", case, layout.PATIENT_CSV, "case not listed: age and gender unknown"))
    record["age"] = patient.age if patient else None
    record["gender"] = patient.gender if patient else None

    organ_files: dict[str, Path] = {}
    for path in sorted(folder.glob(f"{case}_OAR_*.seg.nrrd")):
        parsed = layout.parse_organ_file(path.name)
        organ = layout.normalise_organ(parsed[1]) if parsed else None
        if organ is None:
            problems.append(Problem("warning", case, path.name, "not one of the 30 HaN-Seg organs, ignored"))
            continue
        organ_files[organ] = path

    ct = images.get("ct")
    organs = []
    for organ in layout.ORGANS:
        path = organ_files.get(organ)
        csv_value = case_availability.get(organ) if case_availability is not None else None
        row = {
            "organ": organ,
            "label_id": layout.LABEL_IDS[organ],
            "file": path.name if path else "",
            "file_present": path is not None,
            "voxels": 0,
            "volume_ml": 0.0,
            "availability_csv": csv_value,
            "status": "ok",
        }
        if path is not None:
            mask = _read(path, case, problems)
            if mask is not None:
                if ct is not None and (difference := same_grid(ct, mask)) is not None:
                    problems.append(Problem("error", case, path.name, f"mask not on the CT grid: {difference}"))
                array = sitk.GetArrayViewFromImage(mask)
                non_binary = (array != 0) & (array != 1)
                if non_binary.any():
                    values = np.unique(array[non_binary])[:5].tolist()
                    problems.append(Problem("error", case, path.name, f"non-binary mask: values {values} besides 0/1"))
                voxels = int(np.count_nonzero(array))
                row["voxels"] = voxels
                row["volume_ml"] = round(voxels * float(np.prod(mask.GetSpacing())) / 1000.0, 4)
                if voxels == 0:
                    row["status"] = "empty"
                    problems.append(Problem("warning", case, path.name, "empty mask"))
            if csv_value == 0:
                row["status"] = "file_but_csv_absent"
                problems.append(
                    Problem(
                        "warning",
                        case,
                        path.name,
                        f"{layout.OAR_CSV} marks {organ} absent (0) but the file exists; file used",
                    )
                )
        elif csv_value is not None and csv_value > 0:
            row["status"] = "csv_present_but_no_file"
            problems.append(
                Problem(
                    "warning",
                    case,
                    layout.organ_name(case, organ),
                    f"{layout.OAR_CSV} marks {organ} as {csv_value:g} but the file is missing",
                )
            )
        else:
            row["status"] = "absent"
        organs.append(row)
    record["organs"] = organs
    record["organs_present"] = sum(r["file_present"] and r["voxels"] > 0 for r in organs)

    errors = [p for p in problems if p.level == "error" or strict]
    warnings = [p for p in problems if p not in errors]
    for warning in warnings:
        log.warning("%s", warning)
    record["warnings"] = [str(w) for w in warnings]
    if errors:
        raise CaseValidationError(
            f"case {case} ({folder}) failed validation:\n" + "\n".join(f"  - {p}" for p in errors)
        )
    return record


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
