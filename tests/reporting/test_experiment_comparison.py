"""Paired comparison of two experiments: differences, scipy's Wilcoxon p-values, Holm, wins, bootstrap CIs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hanseg.evaluation.case_tables import write_case_table
from hanseg.reporting.experiment_comparison import COLUMNS, compare, compare_files, holm, organ_order
from hanseg.reporting.paper_comparison import Bootstrap

ORGANS = ("Parotid_L", "Bone_Mandible", "SpinalCord", "Cochlea_L")


def _per_case(dc: dict[str, np.ndarray], hd: dict[str, np.ndarray], cases: int) -> pd.DataFrame:
    rows = []
    for i in range(cases):
        for organ in ORGANS:
            rows.append(
                {
                    "case": f"case_{i + 1:02d}",
                    "organ": organ,
                    "dc": float(dc[organ][i]),
                    "hd95_mm": float(hd[organ][i]),
                    "sdice_2mm": 0.5,
                    "assd_mm": 1.0,
                    "ref_voxels": 100,
                    "pred_voxels": 100,
                    "fov_fraction": 1.0,
                    "evaluated": True,
                    "reason": "",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    cases = 12
    dc_b = {o: rng.uniform(0.5, 0.9, cases) for o in ORGANS}
    hd_b = {o: rng.uniform(1.0, 6.0, cases) for o in ORGANS}
    dc_a = {o: dc_b[o] + rng.normal(0.03 if o == "Parotid_L" else 0.0, 0.02, cases) for o in ORGANS}
    hd_a = {o: hd_b[o] + rng.normal(-0.5 if o == "Parotid_L" else 0.0, 0.3, cases) for o in ORGANS}
    hd_a["SpinalCord"][4] = math.inf  # an empty prediction in a
    a, b = _per_case(dc_a, hd_a, cases), _per_case(dc_b, hd_b, cases)
    b.loc[(b["case"] == "case_12") & (b["organ"] == "Cochlea_L"), "evaluated"] = False  # not evaluated in b
    return a, b


def test_p_values_are_scipys_wilcoxon_on_the_paired_rows(pair):
    a, b = pair
    table = compare(a, b, Bootstrap(resamples=500)).set_index("organ")
    assert list(table.columns) == list(COLUMNS)[1:]
    for organ in ORGANS:
        both = a.merge(b, on=["case", "organ"], suffixes=("_a", "_b"))
        both = both[(both["organ"] == organ) & both["evaluated_a"] & both["evaluated_b"]]
        dc = 100 * (both["dc_a"] - both["dc_b"]).to_numpy()
        assert table.loc[organ, "n"] == len(both)
        assert table.loc[organ, "dc_p_wilcoxon"] == pytest.approx(stats.wilcoxon(dc).pvalue, rel=1e-12)
        assert table.loc[organ, "dc_diff_mean"] == pytest.approx(dc.mean())
        hd = (both["hd95_mm_a"] - both["hd95_mm_b"]).to_numpy()
        hd = hd[np.isfinite(hd)]
        assert table.loc[organ, "hd95_n"] == len(hd)
        assert table.loc[organ, "hd95_p_wilcoxon"] == pytest.approx(stats.wilcoxon(hd).pvalue, rel=1e-12)
        assert table.loc[organ, "dc_wins_a"] + table.loc[organ, "dc_wins_b"] == len(both)
        assert (
            table.loc[organ, "dc_diff_ci_low"]
            <= table.loc[organ, "dc_diff_mean"]
            <= table.loc[organ, "dc_diff_ci_high"]
        )
    assert table.loc["Cochlea_L", "n"] == 11  # the pair b did not evaluate is left out
    assert table.loc["SpinalCord", "hd95_n"] == 11 and table.loc["SpinalCord", "n"] == 12  # inf: DC only
    assert table.loc["Parotid_L", "dc_p_holm"] < 0.05 and table.loc["Parotid_L", "dc_wins_a"] >= 10
    assert table.loc["Parotid_L", "hd95_wins_a"] >= 10  # a smaller HD95 wins


def test_holm_matches_its_definition():
    p = pd.Series([0.01, 0.04, float("nan"), 0.03, 0.20])
    adjusted = holm(p)
    # sorted: 0.01, 0.03, 0.04, 0.20 -> 4*0.01, max(0.04, 3*0.03), max(0.09, 2*0.04), max(0.09, 1*0.20)
    assert adjusted.tolist()[:2] == pytest.approx([0.04, 0.09]) and math.isnan(adjusted[2])
    assert adjusted[3] == pytest.approx(0.09) and adjusted[4] == pytest.approx(0.20)


def test_organs_follow_table2_and_identical_experiments_have_no_test(pair):
    a, _ = pair
    table = compare(a, a, Bootstrap(resamples=200))
    order = organ_order()
    assert list(table["organ"]) == sorted(ORGANS, key=order.index)
    assert table["dc_diff_mean"].eq(0).all() and table["dc_p_wilcoxon"].isna().all()
    assert len(order) == 30


def test_files(pair, tmp_path):
    a, b = pair
    write_case_table(a.to_dict("records"), tmp_path / "a.tsv")
    write_case_table(b.to_dict("records"), tmp_path / "b.tsv")
    table = compare_files(
        tmp_path / "a.tsv",
        tmp_path / "b.tsv",
        tmp_path / "c.csv",
        tmp_path / "c.md",
        names=("ct_mr", "ct"),
        descriptions=("CT + MR", "CT only"),
        options=Bootstrap(resamples=200),
    )
    again = pd.read_csv(tmp_path / "c.csv")
    assert list(again.columns) == list(COLUMNS) and len(again) == len(table) == 4
    text = (tmp_path / "c.md").read_text()
    assert "# ct_mr vs ct: paired differences (ct_mr minus ct)" in text and "| Parotid_L | 12 |" in text
