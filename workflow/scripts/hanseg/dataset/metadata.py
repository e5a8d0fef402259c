"""Reading `OAR_data.csv` and `patient_data.csv` without trusting their dialect.

Their exact format is not documented: reports mention semicolons and decimal commas (a European spreadsheet
export), and the orientation of the organ table is not certain. So the delimiter is sniffed, a decimal comma is
recognised, case ids are normalised (`case_01`, `1`, `Case 01`...), organ names are matched case-insensitively
(the paper writes `GlnD_`, the files `Glnd_`), and the organ table may have organs as columns or as rows.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from hanseg.core import dataset_layout
from hanseg.core.errors import InputError, Problem


class MetadataError(InputError, ValueError):
    """A CSV file that cannot be understood; the message names the file."""


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    delimiter: str
    decimal_comma: bool


@dataclass
class OrganAvailability:
    #: case -> organ -> 1 (present), 0 (absent), 0.5 (partly in the field of view)
    values: dict[str, dict[str, float]]
    #: cells and names that could not be read (each naming the file, and the case and column where there is one)
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class Patient:
    age: float | None
    gender: str | None


@dataclass
class Patients:
    #: case -> age and gender (None where the file does not say, or says something unreadable)
    values: dict[str, Patient]
    #: cells that could not be read, each naming the file, the case, the column and the value
    warnings: list[Problem] = field(default_factory=list)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MetadataError(f"{path}: cannot decode")  # pragma: no cover - latin-1 decodes anything


def read_table(path: Path | str) -> Table:
    """Rows of a CSV file with a sniffed delimiter (`,`, `;` or tab) and decimal mark."""
    path = Path(path)
    if not path.is_file():
        raise MetadataError(f"{path}: file not found")
    text = _read_text(path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise MetadataError(f"{path}: empty file")
    sample = "\n".join(lines[:20])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t"}
        delimiter = max(counts, key=counts.get)  # type: ignore[arg-type]
        if counts[delimiter] == 0:
            raise MetadataError(f"{path}: cannot find the column delimiter (tried , ; and tab)") from None
    records = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]
    body = [cell for row in records[1:] for cell in row]
    decimal_comma = delimiter != "," and any(re.fullmatch(r"-?\d+,\d+", cell) for cell in body)
    return Table(header=records[0], rows=records[1:], delimiter=delimiter, decimal_comma=decimal_comma)


def parse_number(text: str, decimal_comma: bool) -> float | None:
    """A float from a cell, or None for an empty or unreadable cell."""
    text = text.strip()
    if decimal_comma:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def read_organ_availability(path: Path | str) -> OrganAvailability:
    """`OAR_data.csv`: availability of every organ in every case."""
    path = Path(path)
    table = read_table(path)
    header_organs = [dataset_layout.normalise_organ(name) for name in table.header[1:]]
    first_column_organs = [dataset_layout.normalise_organ(row[0]) for row in table.rows if row]
    organs_as_columns = sum(o is not None for o in header_organs) >= sum(o is not None for o in first_column_organs)
    where = "column" if organs_as_columns else "row"
    if organs_as_columns:
        # organs as columns, one row per case
        pairs = [(row[0], dict(zip(table.header[1:], row[1:], strict=False))) for row in table.rows if row]
    else:
        # transposed: one row per organ, cases as columns
        columns = table.header[1:]
        pairs = [
            (column, {row[0]: row[i + 1] if i + 1 < len(row) else "" for row in table.rows if row})
            for i, column in enumerate(columns)
        ]
    result = OrganAvailability(values={})
    unknown: set[str] = set()
    for raw_case, cells in pairs:
        case = dataset_layout.normalise_case_id(raw_case)
        if case is None:
            result.warnings.append(
                Problem("warning", "", str(path), f"row/column {raw_case!r} is not a case id (case_NN), ignored")
            )
            continue
        organs: dict[str, float] = {}
        for raw_organ, cell in cells.items():
            organ = dataset_layout.normalise_organ(raw_organ)
            if organ is None:
                unknown.add(raw_organ)
                continue
            value = parse_number(cell, table.decimal_comma)
            if value is None or value not in (0, 0.5, 1):
                result.warnings.append(
                    Problem(
                        "warning",
                        case,
                        str(path),
                        f"{where} {raw_organ!r}: cannot read {cell!r} (expected 1, 0.5 or 0), treated as unknown",
                    )
                )
                continue
            organs[organ] = value
        result.values[case] = organs
    for name in sorted(unknown):
        if name:
            result.warnings.append(
                Problem("warning", "", str(path), f"{where} {name!r} is not one of the 30 HaN-Seg organs, ignored")
            )
    if not result.values:
        raise MetadataError(f"{path}: no case rows found (header: {table.header[:4]}...)")
    return result


_GENDER = {
    "m": "M",
    "male": "M",
    "man": "M",
    "f": "F",
    "female": "F",
    "woman": "F",
    "w": "F",
    "ž": "F",
    "z": "F",
}


def _find_column(header: list[str], *words: str) -> int | None:
    folded = [h.strip().lower() for h in header]
    for word in words:
        for i, name in enumerate(folded):
            if re.search(rf"(^|[^a-z]){word}([^a-z]|$)", name):
                return i
    return None


#: Ages outside this range are typing errors (a year of birth, a missing decimal point), not ages.
AGE_RANGE = (0.0, 120.0)


def read_patients(path: Path | str) -> Patients:
    """`patient_data.csv`: age and gender per case (columns found by name, in any order).

    A cell that cannot be read (`sixty`, `X`, an age of 560) is left unknown with a warning naming the case, the
    column and the value: age and gender feed the stratified split and Table 1.
    """
    path = Path(path)
    table = read_table(path)
    id_column = _find_column(table.header, "id", "case", "patient", "case_id", "caseid")
    age_column = _find_column(table.header, "age", "age_years")
    gender_column = _find_column(table.header, "gender", "sex")
    if age_column is None and gender_column is None:
        raise MetadataError(f"{path}: no 'age' or 'gender'/'sex' column in header {table.header}")
    id_column = 0 if id_column is None else id_column
    patients = Patients(values={})

    def cell(row: list[str], column: int | None) -> str:
        return row[column].strip() if column is not None and column < len(row) else ""

    def unreadable(case: str, column: int, value: str, expected: str) -> None:
        patients.warnings.append(
            Problem(
                "warning",
                case,
                str(path),
                f"column {table.header[column]!r}: cannot read {value!r} ({expected}), left unknown; fix the cell",
            )
        )

    for number, row in enumerate(table.rows, start=2):
        raw_id = cell(row, id_column)
        case = dataset_layout.normalise_case_id(raw_id)
        if case is None:
            if any(c.strip() for c in row):
                patients.warnings.append(
                    Problem("warning", "", str(path), f"line {number}: {raw_id!r} is not a case id (case_NN), ignored")
                )
            continue
        age = None
        if text := cell(row, age_column):
            age = parse_number(text, table.decimal_comma)
            if age is None or not AGE_RANGE[0] <= age <= AGE_RANGE[1]:
                unreadable(case, age_column, text, f"expected an age in years, {AGE_RANGE[0]:g}-{AGE_RANGE[1]:g}")
                age = None
        gender = None
        if text := cell(row, gender_column):
            gender = _GENDER.get(text.lower())
            if gender is None:
                unreadable(case, gender_column, text, "expected M/F, male/female")
        patients.values[case] = Patient(age=age, gender=gender)
    if not patients.values:
        raise MetadataError(f"{path}: no rows with a case id")
    return patients
