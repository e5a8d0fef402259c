"""Table 1 of the paper: patients and image properties per set (all, train, test; excluded when a failed registration
QC left cases out) and modality (CT, MR).

From the inventory (``cases.tsv``: matrix sizes, spacings, age and gender per case) and the split (``split.tsv``:
which cases train and which test). ``table1.csv`` holds the numbers, ``table1.md`` the paper's layout:
cases (share of all), gender M/F (shares), age mean (±SD), matrix sizes, slice-count range, pixel-size range and
slice-spacing range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.core.atomic import write_text_atomic
from hanseg.dataset.splits import EXCLUDED_ROLE, sets_of

MODALITIES = ("CT", "MR")
COLUMNS = (
    "set",
    "cases",
    "cases_pct",
    "male",
    "female",
    "age_mean",
    "age_sd",
    "modality",
    "matrix_sizes",
    "slices_min",
    "slices_max",
    "pixel_min_mm",
    "pixel_max_mm",
    "spacing_min_mm",
    "spacing_max_mm",
)


def _gender(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.upper().str[:1]


def _nan(value) -> float:
    return float(value) if value is not None and np.isfinite(value) else float("nan")


def table1(cases: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """One row per set and modality, columns :data:`COLUMNS` (sizes in voxels, pixel sizes and spacings in mm)."""
    unknown = sorted(set(split["case"]) - set(cases["case"]))
    if unknown:
        raise ValueError(f"table 1: split cases not in the inventory: {', '.join(unknown[:5])}")
    merged = split[["case", "role"]].merge(cases, on="case", how="left")
    rows = []
    for name, part in sets_of(merged).items():
        gender = _gender(part["gender"])
        ages = part["age"].dropna().to_numpy(float)
        for modality in MODALITIES:
            m = modality.lower()
            sizes = part[[f"{m}_size_x", f"{m}_size_y"]].dropna().astype(int)
            pixels = part[f"{m}_spacing_x"].dropna().to_numpy(float)
            slices = part[f"{m}_size_z"].dropna().to_numpy(float)
            spacing = part[f"{m}_spacing_z"].dropna().to_numpy(float)
            matrix = sorted({(int(x), int(y)) for x, y in sizes.itertuples(index=False)})
            rows.append(
                {
                    "set": name,
                    "cases": len(part),
                    "cases_pct": 100.0 * len(part) / len(merged),
                    "male": int((gender == "M").sum()),
                    "female": int((gender == "F").sum()),
                    "age_mean": _nan(ages.mean()) if ages.size else float("nan"),
                    "age_sd": _nan(ages.std(ddof=1)) if ages.size > 1 else float("nan"),
                    "modality": modality,
                    "matrix_sizes": "; ".join(f"{x}x{y}" for x, y in matrix),
                    "slices_min": int(slices.min()) if slices.size else None,
                    "slices_max": int(slices.max()) if slices.size else None,
                    "pixel_min_mm": float(pixels.min()) if pixels.size else float("nan"),
                    "pixel_max_mm": float(pixels.max()) if pixels.size else float("nan"),
                    "spacing_min_mm": float(spacing.min()) if spacing.size else float("nan"),
                    "spacing_max_mm": float(spacing.max()) if spacing.size else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _range(low, high, fmt: str) -> str:
    if low is None or pd.isna(low):
        return "–"
    return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def to_markdown(table: pd.DataFrame) -> str:
    """The paper's layout: patient columns once per set, image columns per modality."""
    header = (
        "| Set | No. of cases | Gender (M/F) | Age (years) | Modality | Matrix size | No. of slices "
        "| Pixel size (mm × mm) | Spacing (mm) |"
    )
    lines = [header, "|" + "---|" * 9]
    for row in table.itertuples(index=False):
        first = row.modality == MODALITIES[0]
        total = row.male + row.female
        if first:
            share = (
                f"{row.male}/{row.female} ({100 * row.male / total:.0f}%/{100 * row.female / total:.0f}%)"
                if total
                else "–"
            )
            age = f"{row.age_mean:.1f} (±{row.age_sd:.1f})" if not pd.isna(row.age_sd) else f"{row.age_mean:.1f}"
            patient = [row.set, f"{row.cases} ({row.cases_pct:.0f}%)", share, age]
        else:
            patient = ["", "", "", ""]
        pixel = _range(row.pixel_min_mm, row.pixel_max_mm, "{0:.2f} × {0:.2f}")
        matrix = row.matrix_sizes.replace("x", " × ") if row.matrix_sizes else "–"
        image = [
            row.modality,
            matrix,
            _range(row.slices_min, row.slices_max, "{}"),
            pixel,
            _range(row.spacing_min_mm, row.spacing_max_mm, "{:.1f}"),
        ]
        lines.append("| " + " | ".join(str(v) for v in patient + image) + " |")
    note = (
        "\nSets: all cases of the run, and the split's train and test parts (`split.tsv`). Pixel size and spacing: "
        "smallest–largest in-plane voxel size and slice spacing of the original images (inventory).\n"
    )
    if (table["set"] == EXCLUDED_ROLE).any():  # only then: a table without exclusions reads as before
        note += (
            "Excluded: cases whose registration failed QC (registration.on_fail: exclude; `split.tsv` says why), "
            "counted in all, in no train or test set.\n"
        )
    return "\n".join(lines) + "\n" + note


def write_table1(table: pd.DataFrame, csv_path: Path | str, md_path: Path | str) -> None:
    """table1.csv (numbers) and table1.md (the paper's layout), each written under a temporary name first."""
    write_text_atomic(csv_path, table.to_csv(index=False))
    write_text_atomic(md_path, to_markdown(table))
