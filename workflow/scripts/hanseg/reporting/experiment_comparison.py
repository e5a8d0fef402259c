"""Paired comparison of two experiments (e.g. CT + MR against CT only) over the test cases both evaluated.

Per organ, over the cases where both experiments evaluated it (the same reference, field of view and rules, so the
pairs differ only in the model): the mean paired difference ``a - b`` of Dice (percentage points) and of HD95 (mm)
with a bootstrap CI (cases resampled, the expanded percentile interval of :mod:`hanseg.reporting.paper_comparison`), the
Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon`` with its default arguments, as the HaN-Seg challenge ranked
teams), Holm-corrected over the organs tested, and how many cases each experiment wins. A case whose prediction of the
organ was empty in either experiment has an infinite HD95: it counts in the Dice test, and is left out of the HD95 test
(``hd95_n`` says how many pairs remain). Organs are ordered as in Table 2.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.core.atomic import write_text_atomic
from hanseg.evaluation.case_tables import read_case_tables
from hanseg.reporting.paper_comparison import Bootstrap, bootstrap_interval
from hanseg.reporting.table2 import evaluated_rows, paper_table2

COLUMNS: tuple[str, ...] = (
    "organ",
    "n",
    "dc_diff_mean",
    "dc_diff_ci_low",
    "dc_diff_ci_high",
    "dc_p_wilcoxon",
    "dc_p_holm",
    "dc_wins_a",
    "dc_wins_b",
    "hd95_n",
    "hd95_diff_mean",
    "hd95_diff_ci_low",
    "hd95_diff_ci_high",
    "hd95_p_wilcoxon",
    "hd95_p_holm",
    "hd95_wins_a",
    "hd95_wins_b",
)


def organ_order() -> list[str]:
    """The single organs in Table 2's row order (pooled rows left out: a case's two sides are not independent)."""
    table = paper_table2()
    return [label for label, pooled in zip(table["label"], table["pooled_from"], strict=True) if not pooled]


def paired_rows(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """(case, organ, dc_a, dc_b, hd95_a, hd95_b) for every organ both per-case tables evaluated."""
    columns = ["case", "organ", "dc", "hd95_mm"]
    return evaluated_rows(a)[columns].merge(evaluated_rows(b)[columns], on=["case", "organ"], suffixes=("_a", "_b"))


def wilcoxon_p(differences: np.ndarray) -> float:
    """scipy's Wilcoxon signed-rank p-value with its defaults; NaN where it is undefined (no pair, all ties)."""
    from scipy import stats

    if differences.size == 0 or not np.any(differences):
        return math.nan
    return float(stats.wilcoxon(differences).pvalue)


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down adjustment over the non-missing p-values (family: the organs tested)."""
    tested = p_values.dropna().sort_values()
    m = len(tested)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * tested.to_numpy(float)))
    return pd.Series(adjusted, index=tested.index).reindex(p_values.index)


def _metric(differences: np.ndarray, rng: np.random.Generator, options: Bootstrap, higher_is_better: bool) -> dict:
    low, high = bootstrap_interval(differences, np.ones_like(differences), rng, options)
    wins_a = int((differences > 0).sum() if higher_is_better else (differences < 0).sum())
    wins_b = int((differences < 0).sum() if higher_is_better else (differences > 0).sum())
    return {
        "diff_mean": float(differences.mean()) if differences.size else math.nan,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p_wilcoxon": wilcoxon_p(differences),
        "wins_a": wins_a,
        "wins_b": wins_b,
    }


def compare(a: pd.DataFrame, b: pd.DataFrame, options: Bootstrap | None = None) -> pd.DataFrame:
    """One row per organ evaluated in both (columns :data:`COLUMNS`); differences are a minus b."""
    options = options or Bootstrap()
    pairs = paired_rows(a, b)
    rows = []
    for index, organ in enumerate(organ_order()):
        chosen = pairs.loc[pairs["organ"] == organ]
        if chosen.empty:
            continue
        dc = 100.0 * (chosen["dc_a"].to_numpy(float) - chosen["dc_b"].to_numpy(float))
        finite = np.isfinite(chosen["hd95_mm_a"].to_numpy(float)) & np.isfinite(chosen["hd95_mm_b"].to_numpy(float))
        hd = (chosen["hd95_mm_a"] - chosen["hd95_mm_b"]).to_numpy(float)[finite]
        row = {"organ": organ, "n": len(chosen), "hd95_n": int(finite.sum())}
        for metric, differences, higher_is_better in (("dc", dc, True), ("hd95", hd, False)):
            rng = np.random.default_rng([options.seed, index])  # per organ: independent of the other rows
            row.update({f"{metric}_{k}": v for k, v in _metric(differences, rng, options, higher_is_better).items()})
        rows.append(row)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("dc_p_holm", "hd95_p_holm")])
    table["dc_p_holm"] = holm(table["dc_p_wilcoxon"])
    table["hd95_p_holm"] = holm(table["hd95_p_wilcoxon"])
    return table[list(COLUMNS)]


def _number(value: float, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def to_markdown(table: pd.DataFrame, a: str, b: str, descriptions: tuple[str, str] = ("", "")) -> str:
    cases = int(table["n"].max()) if len(table) else 0
    lines = [
        f"# {a} vs {b}: paired differences ({a} minus {b})",
        "",
        *(f"- **{name}**: {text}" for name, text in zip((a, b), descriptions, strict=True) if text),
        "",
        "| organ | N | ΔDC (pp) [95 % CI] | p (Holm) | wins a/b "
        "| N (HD95) | ΔHD95 (mm) [95 % CI] | p (Holm) | wins a/b |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.organ} | {r.n} | {_number(r.dc_diff_mean, 1)} [{_number(r.dc_diff_ci_low, 1)}, "
            f"{_number(r.dc_diff_ci_high, 1)}] | {_number(r.dc_p_wilcoxon, 3)} ({_number(r.dc_p_holm, 3)}) | "
            f"{r.dc_wins_a}/{r.dc_wins_b} | {r.hd95_n} | {_number(r.hd95_diff_mean, 2)} "
            f"[{_number(r.hd95_diff_ci_low, 2)}, "
            f"{_number(r.hd95_diff_ci_high, 2)}] | {_number(r.hd95_p_wilcoxon, 3)} ({_number(r.hd95_p_holm, 3)}) | "
            f"{r.hd95_wins_a}/{r.hd95_wins_b} |"
        )
    lines += [
        "",
        f"Positive ΔDC and negative ΔHD95 favour {a}. Wilcoxon signed-rank tests (scipy defaults) over at most "
        f"{cases} paired test cases, Holm-corrected over the organs; a bootstrap CI needs at least the configured "
        "minimum number of cases (else –). With a dozen test cases only large, consistent differences can reach "
        "significance: read the CIs, not only the p-values. HD95 pairs with an empty prediction (infinite HD95) "
        "are left out of the HD95 test.",
    ]
    return "\n".join(lines) + "\n"


def compare_files(
    per_case_a: Path | str,
    per_case_b: Path | str,
    out_csv: Path | str,
    out_md: Path | str,
    *,
    names: tuple[str, str],
    descriptions: tuple[str, str] = ("", ""),
    options: Bootstrap | None = None,
) -> pd.DataFrame:
    table = compare(read_case_tables([per_case_a]), read_case_tables([per_case_b]), options)
    write_text_atomic(out_csv, table.to_csv(index=False, na_rep="nan", lineterminator="\n"))
    write_text_atomic(out_md, to_markdown(table, *names, descriptions))
    return table
