"""Table 1: patients and image properties per set and modality, from the inventory and the split."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from hanseg.reporting.table1 import COLUMNS, table1, to_markdown, write_table1


def _cases() -> pd.DataFrame:
    rows = []
    for i, (age, gender, ct, mr) in enumerate(
        [
            (50, "M", (512, 512, 120, 0.6, 2.0), (512, 512, 40, 0.5, 3.0)),
            (60, "F", (1024, 1024, 300, 0.5, 2.0), (512, 512, 60, 0.8, 5.0)),
            (70, "M", (512, 512, 200, 1.5, 3.0), (512, 512, 50, 0.47, 3.0)),
            (66, "m", (512, 512, 150, 0.9, 2.5), (512, 512, 48, 0.5, 4.0)),
        ],
        start=1,
    ):
        row = {"case": f"case_{i:02d}", "age": age, "gender": gender}
        for m, (nx, ny, nz, pixel, spacing) in (("ct", ct), ("mr", mr)):
            row |= {f"{m}_size_x": nx, f"{m}_size_y": ny, f"{m}_size_z": nz}
            row |= {f"{m}_spacing_x": pixel, f"{m}_spacing_y": pixel, f"{m}_spacing_z": spacing}
        rows.append(row)
    return pd.DataFrame(rows)


def _split() -> pd.DataFrame:
    return pd.DataFrame(
        {"case": ["case_01", "case_02", "case_03", "case_04"], "role": ["train", "train", "test", "train"]}
    )


def test_rows_per_set_and_modality_with_the_papers_quantities():
    table = table1(_cases(), _split())
    assert list(table.columns) == list(COLUMNS)
    assert list(zip(table["set"], table["modality"], strict=True)) == [
        ("all", "CT"),
        ("all", "MR"),
        ("train", "CT"),
        ("train", "MR"),
        ("test", "CT"),
        ("test", "MR"),
    ]
    all_ct = table.iloc[0]
    assert all_ct["cases"] == 4 and all_ct["cases_pct"] == 100.0
    assert (all_ct["male"], all_ct["female"]) == (3, 1)  # "m" counts as male
    assert all_ct["age_mean"] == pytest.approx(61.5)
    assert all_ct["age_sd"] == pytest.approx(pd.Series([50, 60, 70, 66]).std(ddof=1))
    assert all_ct["matrix_sizes"] == "512x512; 1024x1024"
    assert (all_ct["slices_min"], all_ct["slices_max"]) == (120, 300)
    assert (all_ct["pixel_min_mm"], all_ct["pixel_max_mm"]) == (0.5, 1.5)
    assert (all_ct["spacing_min_mm"], all_ct["spacing_max_mm"]) == (2.0, 3.0)
    train_mr = table.iloc[3]
    assert train_mr["cases"] == 3 and train_mr["cases_pct"] == pytest.approx(75.0)
    assert (train_mr["slices_min"], train_mr["slices_max"]) == (40, 60)
    assert (train_mr["spacing_min_mm"], train_mr["spacing_max_mm"]) == (3.0, 5.0)
    test_ct = table.iloc[4]
    assert test_ct["cases"] == 1 and math.isnan(test_ct["age_sd"])  # one case: no SD


def test_markdown_has_the_papers_layout(tmp_path):
    table = table1(_cases(), _split())
    text = to_markdown(table)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| Set | No. of cases | Gender (M/F) | Age (years) | Modality")
    assert "| all | 4 (100%) | 3/1 (75%/25%) | 61.5 (±8.7) | CT | 512 × 512; 1024 × 1024 | 120–300 |" in text
    assert "0.50 × 0.50–1.50 × 1.50 | 2.0–3.0 |" in text
    assert "| test | 1 (25%) | 1/0 (100%/0%) | 70.0 | CT |" in text
    assert lines[2].startswith("|  |  |  |  | MR |")  # patient columns once per set
    write_table1(table, tmp_path / "t/table1.csv", tmp_path / "t/table1.md")
    assert len(pd.read_csv(tmp_path / "t/table1.csv")) == 6
    assert (tmp_path / "t/table1.md").read_text(encoding="utf-8") == text
    assert not list((tmp_path / "t").glob(".*tmp"))


def test_cross_validation_has_all_and_test_sets():
    split = _split().assign(role="test")
    assert list(table1(_cases(), split)["set"].unique()) == ["all", "test"]


def test_split_case_missing_from_the_inventory_is_an_error():
    split = pd.concat([_split(), pd.DataFrame({"case": ["case_09"], "role": ["test"]})])
    with pytest.raises(ValueError, match="case_09"):
        table1(_cases(), split)
