from __future__ import annotations

import csv
import math
import re
import statistics
from pathlib import Path

import pandas as pd
import pytest

import hanseg
from hanseg.evaluation.case_scores import COLUMNS
from hanseg.evaluation.case_tables import aggregate, write_case_table
from hanseg.reporting.paper_comparison import Bootstrap, Table2Files, write_tables
from hanseg.reporting.table2 import (
    SURFACE_COLUMNS,
    TABLE2_COLUMNS,
    paper_table2,
    surface_markdown,
    surface_table,
    table2,
    write_surface_table,
    write_table2,
)

INF = math.inf
NAN = math.nan

# (case, organ, dc, hd95_mm, evaluated, reason): two sides of the parotid with one empty prediction (inf), organs
# left out by the FoV rule or absent, a single evaluated brainstem (no SD) and a cochlea never evaluated.
HAND = [
    ("case_01", "Parotid_L", 0.80, 3.0, True, ""),
    ("case_02", "Parotid_L", 0.90, 5.0, True, ""),
    ("case_03", "Parotid_L", 0.0, INF, True, "empty prediction"),
    ("case_04", "Parotid_L", NAN, NAN, False, "outside field of view (12.0 % kept)"),
    ("case_01", "Parotid_R", 0.85, 4.0, True, ""),
    ("case_02", "Parotid_R", NAN, NAN, False, "no reference"),
    ("case_03", "Parotid_R", 0.70, 6.5, True, ""),
    ("case_04", "Parotid_R", 0.88, 2.5, True, ""),
    ("case_01", "Brainstem", 0.91, 2.0, True, ""),
    ("case_02", "Brainstem", NAN, NAN, False, "outside field of view (0.0 % kept)"),
    ("case_01", "Cochlea_L", NAN, NAN, False, "no reference"),
    ("case_01", "A_Carotid_L", 0.80, 1.0, True, ""),
    ("case_02", "A_Carotid_L", 0.82, 1.2, True, ""),
]


def _per_case(rows=HAND) -> pd.DataFrame:
    records = [
        {
            "case": case,
            "organ": organ,
            "dc": dc,
            "hd95_mm": hd,
            # The surface metrics follow the volume ones in these hand-made rows (inf stays inf, nan nan).
            "sdice_2mm": dc * 0.9,
            "assd_mm": hd / 3,
            "ref_voxels": 100,
            "pred_voxels": 0 if hd == INF else 90,
            "fov_fraction": 1.0,
            "evaluated": evaluated,
            "reason": reason,
        }
        for case, organ, dc, hd, evaluated, reason in rows
    ]
    return pd.DataFrame(records, columns=list(COLUMNS))


def _expected(*organs: str) -> dict:
    """N, means, population SDs and the inf count, computed with the standard library."""
    chosen = [row for row in HAND if row[1] in organs and row[4]]
    dc = [100 * row[2] for row in chosen]
    hd = [row[3] for row in chosen if row[3] != INF]
    return {
        "n": len(chosen),
        "dc_mean_pct": statistics.mean(dc) if dc else NAN,
        "dc_sd_pct": statistics.pstdev(dc) if len(dc) > 1 else NAN,
        "hd95_mean_mm": statistics.mean(hd) if hd else NAN,
        "hd95_sd_mm": statistics.pstdev(hd) if len(hd) > 1 else NAN,
        "hd95_infinite": sum(row[3] == INF for row in chosen),
    }


def _paper_rows() -> list[dict]:
    with open(Path(hanseg.__file__).parent / "resources/paper_table2.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_paper_table_ships_with_the_package():
    paper = paper_table2()
    assert len(paper) == 38 and list(paper["label"]) == [row["label"] for row in _paper_rows()]
    parotid = paper.set_index("label").loc["Parotid"]
    assert parotid["pooled_from"] == "Parotid_L;Parotid_R" and parotid["n"] == 28 and parotid["dc_mean_pct"] == 86.3


def test_table2_statistics_pooled_rows_and_infinite_hd95():
    table = table2(_per_case())
    assert list(table.columns) == list(TABLE2_COLUMNS)
    assert list(table["label"]) == [row["label"] for row in _paper_rows()]  # the paper's row order
    indexed = table.set_index("label")
    cases = {
        "Parotid_L": ("Parotid_L",),
        "Parotid_R": ("Parotid_R",),
        "Parotid": ("Parotid_L", "Parotid_R"),
        "Brainstem": ("Brainstem",),
        "Cochlea_L": ("Cochlea_L",),
        "Cochlea": ("Cochlea_L", "Cochlea_R"),
        "A_Carotid": ("A_Carotid_L", "A_Carotid_R"),
        "Lips": ("Lips",),
    }
    for label, organs in cases.items():
        expected = _expected(*organs)
        for column, value in expected.items():
            got = indexed.loc[label, column]
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(got), (label, column)
            else:
                assert got == pytest.approx(value, rel=1e-12), (label, column)
    # Spelled out for the pooled parotid row: 6 evaluated rows, the empty prediction's Dice 0 counted in the DC
    # mean, its infinite HD95 left out of the HD95 mean and counted.
    assert indexed.loc["Parotid", "n"] == 6 and indexed.loc["Parotid", "hd95_infinite"] == 1
    assert indexed.loc["Parotid", "dc_mean_pct"] == pytest.approx((80 + 90 + 0 + 85 + 70 + 88) / 6)
    assert indexed.loc["Parotid", "hd95_mean_mm"] == pytest.approx((3 + 5 + 4 + 6.5 + 2.5) / 5)
    assert indexed.loc["Parotid_L", "hd95_sd_mm"] == pytest.approx(1.0)  # ddof=0 of (3, 5); ddof=1 would be 1.41
    assert indexed.loc["Brainstem", "n"] == 1 and math.isnan(indexed.loc["Brainstem", "dc_sd_pct"])


def test_table2_rejects_duplicates_and_broken_rows():
    doubled = _per_case([*HAND, HAND[0]])
    with pytest.raises(ValueError, match="more than once"):
        table2(doubled)
    with pytest.raises(ValueError, match="no score"):
        table2(_per_case([("case_01", "Lips", NAN, NAN, True, "")]))


def test_written_tables(tmp_path):
    table = table2(_per_case())
    paths = {name: tmp_path / "evaluation" / name for name in ("table2.csv", "table2.md", "table2.tex")}
    write_table2(table, paths["table2.csv"], paths["table2.md"], paths["table2.tex"])
    assert sorted(p.name for p in (tmp_path / "evaluation").iterdir()) == sorted(paths)

    csv_back = pd.read_csv(paths["table2.csv"])
    assert list(csv_back.columns) == list(TABLE2_COLUMNS) and len(csv_back) == 38
    assert csv_back.set_index("label").loc["Parotid", "dc_mean_pct"] == pytest.approx(413 / 6)

    md = paths["table2.md"].read_text()
    assert md.startswith("| OAR | Name | N | DC (%) | HD95 (mm) |")
    assert "| Parotid_L | Parotid gland (left) | 3 | 56.7 ± 40.3 | 4.0 ± 1.0 (+1 ∞) |" in md
    assert "| Brainstem | Brainstem | 1 | 91.0 ± – | 2.0 ± – |" in md
    assert "| Lips | Lips | 0 | – | – |" in md
    assert "left out of the HD95 mean and SD" in md and "included in the DC mean" in md  # the footnote

    tex = paths["table2.tex"].read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "\\begin{tabular}" in tex
    assert "Parotid\\_L & Parotid gland (left) & 3 & 56.7 $\\pm$ 40.3 & 4.0 $\\pm$ 1.0 (+1 $\\infty$) \\\\" in tex
    assert re.search(r"(?<!\\)_", tex) is None  # every underscore escaped
    assert "±" not in tex and "∞" not in tex and "left out of the HD95 mean" in tex and "N $<$ 2" in tex

    assert "population SD" in md and "ddof = 0" in tex


def test_aggregate_concatenates_sorted_case_tables(tmp_path):
    frame = _per_case()
    paths = []
    for case in ("case_04", "case_10", "case_01", "case_02", "case_03"):  # not in order: output is sorted
        path = tmp_path / f"cases/{case}.tsv"
        write_case_table(frame[frame["case"] == case].to_dict("records"), path)
        paths.append(path)
    out = tmp_path / "per_case.tsv"
    result = aggregate(paths, out)
    back = pd.read_csv(out, sep="\t", dtype={"case": str})
    assert len(back) == len(HAND) and list(back.columns) == list(COLUMNS)
    assert list(back["case"]) == sorted(back["case"])
    first = back[back["case"] == "case_01"]["organ"].tolist()
    assert first == ["A_Carotid_L", "Brainstem", "Cochlea_L", "Parotid_L", "Parotid_R"]  # official id order
    pd.testing.assert_frame_equal(table2(result), table2(frame))
    with pytest.raises(ValueError, match="also in"):
        aggregate([paths[0], paths[0]], tmp_path / "twice.tsv")


# ---------------------------------------------------------------------------------------------------------
# The evidence for the population SD: the paper's pooled rows rebuilt from its left and right rows.
# ---------------------------------------------------------------------------------------------------------

HALF = 0.05  # the paper prints one decimal


def _pooled_sd_range(sides: list[tuple[int, float, float]], ddof: int) -> tuple[float, float]:
    """Lowest and highest SD of the pooled rows over every left/right mean and SD the printed values round from.

    Pooling two groups: sum of squares = each side's SD² x (n - ddof) plus n1 n2 / N x (mean gap)², over N - ddof.
    It grows with both SDs and with the gap of the means, so the bounds lie at the corners of the rounding box
    (each SD ± 0.05, the gap ± 0.1).
    """
    (n1, m1, s1), (n2, m2, s2) = sides
    n, gap = n1 + n2, abs(m1 - m2)

    def pooled(sd1: float, sd2: float, d: float) -> float:
        return math.sqrt((sd1**2 * (n1 - ddof) + sd2**2 * (n2 - ddof) + n1 * n2 / n * d**2) / (n - ddof))

    low = pooled(max(s1 - HALF, 0.0), max(s2 - HALF, 0.0), max(gap - 2 * HALF, 0.0))
    return low, pooled(s1 + HALF, s2 + HALF, gap + 2 * HALF)


def test_paper_pooled_rows_are_rebuilt_only_with_the_population_sd():
    """All 16 pooled SDs of the paper's Table 2 (8 pooled organs x DC, HD95) are reachable from its left and right
    rows with ddof = 0; with ddof = 1 five DC SDs are out of reach at any rounding of the inputs."""
    paper = pd.read_csv(Path(hanseg.__file__).parent / "resources/paper_table2.csv", dtype={"pooled_from": str})
    paper = paper.assign(pooled_from=paper["pooled_from"].fillna("")).set_index("label")
    pooled_rows = paper.loc[paper["pooled_from"] != ""]
    assert len(pooled_rows) == 8
    unreachable = {0: [], 1: []}
    for label, row in pooled_rows.iterrows():
        left, right = row["pooled_from"].split(";")
        assert row["n"] == paper.loc[left, "n"] + paper.loc[right, "n"], label
        for mean, sd in (("dc_mean_pct", "dc_std_pct"), ("hd95_mean_mm", "hd95_std_mm")):
            sides = [
                (int(paper.loc[s, "n"]), float(paper.loc[s, mean]), float(paper.loc[s, sd])) for s in (left, right)
            ]
            pooled_mean = sum(n * m for n, m, _ in sides) / row["n"]
            assert abs(pooled_mean - row[mean]) <= 2 * HALF + 1e-9, (label, mean)  # the means pool either way
            for ddof in (0, 1):
                low, high = _pooled_sd_range(sides, ddof)
                if not (low <= row[sd] + HALF and high >= row[sd] - HALF):
                    unreachable[ddof].append(f"{label} {sd}")
    assert unreachable[0] == []
    assert sorted(unreachable[1]) == [
        "Cochlea dc_std_pct",
        "Eye_A dc_std_pct",
        "Glnd_Lacrimal dc_std_pct",
        "Glnd_Submand dc_std_pct",
        "OpticNrv dc_std_pct",
    ]


def test_surface_table_has_table2_rows_and_statistics(tmp_path):
    table = surface_table(_per_case())
    assert list(table.columns) == list(SURFACE_COLUMNS) and list(table["label"]) == list(paper_table2()["label"])
    parotid = table.set_index("label").loc["Parotid"]
    sdice = [90 * row[2] for row in HAND if row[1].startswith("Parotid") and row[4]]
    assd = [row[3] / 3 for row in HAND if row[1].startswith("Parotid") and row[4] and row[3] != INF]
    assert parotid["n"] == 6 and parotid["assd_infinite"] == 1
    assert parotid["sdice_mean_pct"] == pytest.approx(statistics.mean(sdice))
    assert parotid["sdice_sd_pct"] == pytest.approx(statistics.pstdev(sdice))
    assert parotid["assd_mean_mm"] == pytest.approx(statistics.mean(assd))
    assert parotid["assd_sd_mm"] == pytest.approx(statistics.pstdev(assd))
    md = surface_markdown(table)
    assert md.startswith("| OAR | Name | N | sDice 2 mm (%) | ASSD (mm) |") and "Not in the paper's Table 2" in md
    assert "| Parotid_L | Parotid gland (left) | 3 | 51.0 ± 36.2 | 1.3 ± 0.3 (+1 ∞) |" in md
    paths = {name: tmp_path / name for name in ("table2_surface.csv", "table2_surface.md")}
    write_surface_table(table, paths["table2_surface.csv"], paths["table2_surface.md"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(paths)
    assert list(pd.read_csv(paths["table2_surface.csv"]).columns) == list(SURFACE_COLUMNS)
    broken = _per_case().assign(sdice_2mm=math.nan)
    table2(broken)  # Table 2 itself needs only DC and HD95
    with pytest.raises(ValueError, match="no score"):
        surface_table(broken)


def test_excluded_cases_are_named_below_table2_and_only_then(tmp_path):
    """registration.on_fail: exclude: the md and tex files of Table 2 (and the surface table's md) name the cases a
    failed registration QC left out, and why; without exclusions the files are as they always were."""
    excluded = {"case_07": "registration QC fail: skin_distance_mm 7.1 mm above the fail threshold 6 mm"}
    plain, noted = Table2Files.in_folder(tmp_path / "plain"), Table2Files.in_folder(tmp_path / "noted")
    options = Bootstrap(resamples=100)
    write_tables(_per_case(), plain, options)
    write_tables(_per_case(), noted, options, excluded)
    for name in ("table2_md", "table2_tex", "surface_md"):
        before, after = getattr(plain, name).read_text(), getattr(noted, name).read_text()
        assert "case_07" not in before and "xcluded" not in before
        assert after.startswith(before.rstrip("\n")), name  # the table and its footnote unchanged, the note added
        note = after[len(before.rstrip("\n")) :].strip()
        if name == "table2_tex":
            assert "skin\\_distance\\_mm 7.1 mm above the fail threshold 6 mm" in note  # escaped for LaTeX
            note = note.replace("\\_", "_")
        assert len(note.splitlines()) == (2 if name == "table2_tex" else 1), note  # tex: \\par, then the line
        assert "registration.on_fail: exclude" in note and f"case_07 ({excluded['case_07']})" in note
    for name in ("table2_csv", "surface_csv", "vs_paper"):  # the numbers' files keep their columns
        assert getattr(plain, name).read_text() == getattr(noted, name).read_text(), name
