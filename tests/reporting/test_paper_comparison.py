"""Tests of hanseg.reporting.paper_comparison: bootstrap CIs of our means over test cases, and the verdict against the
paper."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hanseg.core import dataset_layout
from hanseg.evaluation.case_scores import COLUMNS
from hanseg.reporting.paper_comparison import (
    VS_PAPER_COLUMNS,
    Bootstrap,
    Table2Files,
    bootstrap_ci,
    verdict,
    vs_paper,
    write_tables,
)
from hanseg.reporting.table2 import paper_table2, table2

QUICK = Bootstrap(resamples=2000, seed=3)


def _rows(case: str, organ: str, dc: float, hd: float) -> dict:
    record = dict.fromkeys(COLUMNS, 0)
    evaluated = not math.isnan(dc)
    empty = hd == math.inf
    return record | {
        "case": case,
        "organ": organ,
        "dc": dc,
        "hd95_mm": hd,
        "sdice_2mm": dc,
        "assd_mm": hd / 2,
        "fov_fraction": 1.0,
        "evaluated": evaluated,
        "reason": "empty prediction" if empty else ("" if evaluated else "no reference"),
    }


def _per_case(seed: int = 0, cases: int = 12) -> pd.DataFrame:
    """Brainstem in every case (one empty prediction), both parotids in every case (left and right of a case
    correlated), the pituitary in only four cases."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, cases + 1):
        case = dataset_layout.case_id(i)
        if i == 1:
            rows.append(_rows(case, "Brainstem", 0.0, math.inf))
        else:
            rows.append(_rows(case, "Brainstem", rng.uniform(0.7, 0.95), rng.uniform(2, 6)))
        quality = rng.uniform(0.6, 0.95)  # shared by both sides: a case is good or bad as a whole
        for organ in ("Parotid_L", "Parotid_R"):
            rows.append(_rows(case, organ, quality + rng.normal(0, 0.01), 10 * (1 - quality) + rng.uniform(0, 1)))
        if i <= 4:
            rows.append(_rows(case, "Pituitary", rng.uniform(0.5, 0.8), rng.uniform(1, 4)))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _index(label: str) -> int:
    return list(paper_table2()["label"]).index(label)


def _percentile_ci(case_values: list[np.ndarray], label: str, options: Bootstrap) -> tuple[float, float]:
    """The bootstrap written out plainly: draw cases, pool their values, take the mean; the expanded percentile
    interval of the means (normal tail at sqrt(n / (n - 1)) t(n - 1), Hesterberg 2015)."""
    rng = np.random.default_rng([options.seed, _index(label)])
    n = len(case_values)
    draws = rng.integers(0, n, size=(options.resamples, n))
    means = [np.mean(np.concatenate([case_values[k] for k in draw])) for draw in draws]
    tail = stats.norm.cdf(-math.sqrt(n / (n - 1)) * stats.t.ppf(1 - (1 - options.confidence) / 2, n - 1))
    assert tail < (1 - options.confidence) / 2  # further out than the plain percentile interval
    return tuple(np.quantile(means, [tail, 1 - tail]))


def test_bootstrap_draws_whole_cases_and_follows_table2s_rules():
    per_case = _per_case()
    ci = bootstrap_ci(per_case, QUICK).set_index("label")
    assert list(ci.index) == list(paper_table2()["label"])

    evaluated = per_case[per_case["evaluated"]]
    brainstem = evaluated[evaluated["organ"] == "Brainstem"].sort_values("case")
    # DC: every case counts, the empty prediction's 0 included.
    expected = _percentile_ci([np.array([100 * v]) for v in brainstem["dc"]], "Brainstem", QUICK)
    assert (ci.loc["Brainstem", "dc_ci_low_pct"], ci.loc["Brainstem", "dc_ci_high_pct"]) == pytest.approx(expected)
    # HD95: the infinite value is left out, as in the mean; 11 cases are drawn.
    finite = brainstem[np.isfinite(brainstem["hd95_mm"])]
    expected = _percentile_ci([np.array([v]) for v in finite["hd95_mm"]], "Brainstem", QUICK)
    assert (ci.loc["Brainstem", "hd95_ci_low_mm"], ci.loc["Brainstem", "hd95_ci_high_mm"]) == pytest.approx(expected)
    # A pooled row draws cases, each bringing its left and right parotid.
    parotids = evaluated[evaluated["organ"].str.startswith("Parotid")]
    by_case = [100 * group["dc"].to_numpy() for _, group in parotids.groupby("case", sort=True)]
    expected = _percentile_ci(by_case, "Parotid", QUICK)
    assert (ci.loc["Parotid", "dc_ci_low_pct"], ci.loc["Parotid", "dc_ci_high_pct"]) == pytest.approx(expected)
    assert ci.loc["Parotid", "cases"] == 12
    # Drawing rows instead would ignore that the two sides of a case go together: a narrower interval here.
    rows = [np.array([v]) for v in 100 * parotids.sort_values("case")["dc"].to_numpy()]
    row_low, row_high = _percentile_ci(rows, "Parotid", QUICK)
    assert row_high - row_low < 0.8 * (ci.loc["Parotid", "dc_ci_high_pct"] - ci.loc["Parotid", "dc_ci_low_pct"])
    # Too few cases: no interval.
    assert ci.loc["Pituitary", "cases"] == 4 and math.isnan(ci.loc["Pituitary", "dc_ci_low_pct"])
    assert math.isnan(ci.loc["Lips", "dc_ci_low_pct"]) and ci.loc["Lips", "cases"] == 0


def test_bootstrap_is_seeded_and_as_wide_as_theory_says():
    per_case = _per_case(cases=40)
    assert bootstrap_ci(per_case, QUICK).equals(bootstrap_ci(per_case, QUICK))
    other = bootstrap_ci(per_case, Bootstrap(resamples=2000, seed=4)).set_index("label")
    ci = bootstrap_ci(per_case, Bootstrap(resamples=20000, seed=3)).set_index("label")
    assert other.loc["Parotid", "dc_ci_low_pct"] != ci.loc["Parotid", "dc_ci_low_pct"]
    # 40 roughly symmetric values: the expanded percentile interval is about as wide as Student's t interval.
    brainstem = 100 * per_case.loc[(per_case["organ"] == "Brainstem") & (per_case["dc"] > 0), "dc"].to_numpy()
    width = ci.loc["Brainstem", "dc_ci_high_pct"] - ci.loc["Brainstem", "dc_ci_low_pct"]
    t_width = 2 * stats.t.ppf(0.975, 38) * np.std(brainstem, ddof=1) / math.sqrt(39)
    with_zero = 100 * per_case.loc[per_case["organ"] == "Brainstem", "dc"].to_numpy()  # case 1's empty prediction
    assert width == pytest.approx(2 * stats.t.ppf(0.975, 39) * np.std(with_zero, ddof=1) / math.sqrt(40), rel=0.08)
    assert width > 1.5 * t_width  # the empty prediction's Dice 0 widens it, as it should
    assert ci.loc["Brainstem", "dc_ci_low_pct"] < np.mean(with_zero) < ci.loc["Brainstem", "dc_ci_high_pct"]
    # A lower confidence level gives a narrower interval inside the wider one.
    narrow = bootstrap_ci(per_case, Bootstrap(resamples=20000, seed=3, confidence=0.8)).set_index("label")
    assert ci.loc["Brainstem", "dc_ci_low_pct"] < narrow.loc["Brainstem", "dc_ci_low_pct"]
    assert narrow.loc["Brainstem", "dc_ci_high_pct"] < ci.loc["Brainstem", "dc_ci_high_pct"]


@pytest.mark.parametrize(
    ("low", "high", "paper", "expected"),
    [
        (80.0, 85.0, 82.0, "consistent"),
        (80.0, 85.0, 85.04, "consistent"),  # the paper's 85.0 may have been 85.04...: it touches our interval
        (80.0, 85.0, 85.1, "lower"),
        (80.0, 85.0, 79.9, "higher"),
        (80.0, 85.0, 79.96, "consistent"),
        (math.nan, math.nan, 82.0, "n/a"),
        (80.0, 85.0, math.nan, "n/a"),
    ],
)
def test_verdict(low, high, paper, expected):
    assert verdict(low, high, paper) == expected


def test_vs_paper_columns_verdicts_and_files(tmp_path):
    per_case = _per_case()
    table = table2(per_case)
    comparison = vs_paper(table, per_case, QUICK).set_index("label")
    assert list(comparison.reset_index().columns) == list(VS_PAPER_COLUMNS)
    paper = paper_table2().set_index("label")
    row = comparison.loc["Parotid"]
    assert row["n"] == 24 and row["n_paper"] == 28
    assert row["dc_diff"] == pytest.approx(row["dc_mean_pct"] - paper.loc["Parotid", "dc_mean_pct"], abs=2e-3)
    assert row["dc_ci_low_pct"] <= row["dc_mean_pct"] <= row["dc_ci_high_pct"]
    for metric, unit, paper_column in (("dc", "pct", "dc_mean_pct"), ("hd95", "mm", "hd95_mean_mm")):
        for label, ours in comparison.iterrows():
            expected = verdict(
                ours[f"{metric}_ci_low_{unit}"], ours[f"{metric}_ci_high_{unit}"], paper.loc[label, paper_column]
            )
            assert ours[f"{metric}_verdict"] == expected, (label, metric)
    verdicts = set(comparison["dc_verdict"]) | set(comparison["hd95_verdict"])
    assert {"n/a", "lower"} <= verdicts  # organs without cases, and our parotid HD95 against the paper's 5.3 mm
    assert comparison.loc["Lips", "dc_verdict"] == "n/a" and comparison.loc["Pituitary", "hd95_verdict"] == "n/a"

    outputs = Table2Files.in_folder(tmp_path / "evaluation")
    write_tables(per_case, outputs, QUICK)
    names = ["table2.csv", "table2.md", "table2.tex", "table2_surface.csv", "table2_surface.md", "table2_vs_paper.csv"]
    assert sorted(p.name for p in (tmp_path / "evaluation").iterdir()) == sorted(names)
    back = pd.read_csv(outputs.vs_paper, keep_default_na=False, na_values=["nan"]).set_index("label")
    assert back.loc["Lips", "dc_verdict"] == "n/a"
    pd.testing.assert_series_equal(back["hd95_verdict"], comparison["hd95_verdict"])


def test_bootstrap_options_are_checked():
    for bad in ({"resamples": 10}, {"confidence": 1.0}, {"confidence": 0.3}, {"min_cases": 1}):
        with pytest.raises(ValueError, match="bootstrap"):
            Bootstrap(**bad)
