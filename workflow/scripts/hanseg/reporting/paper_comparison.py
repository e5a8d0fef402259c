"""Our Table 2 against the paper's: bootstrap confidence intervals of our means and a verdict per organ.

For each row of Table 2 (organs and pooled "both" rows) and for DC and HD95:

- CI: a bootstrap of our mean over test cases, read as the expanded percentile interval (see
  :func:`expanded_tail`: the plain percentile interval is too narrow for a dozen cases). The unit of
  resampling is the case (a pooled row draws whole cases, so a case's left and right organs stay together);
  each of ``resamples`` draws takes as many cases, with replacement, as have the organ evaluated, and the mean
  is taken over their rows with the rules of Table 2 (an empty prediction's Dice 0 counts, its infinite HD95
  does not). Seeded per row, so a row's interval does not depend on which other rows exist.
- Verdict: ``consistent`` when the paper's printed mean (± half of its last digit, 0.05) touches our CI,
  ``lower`` / ``higher`` when our whole CI lies below / above it, ``n/a`` when fewer than ``min_cases`` test
  cases have the organ (a bootstrap of so few values cannot be trusted) or a number is
  missing. ``lower`` is worse for DC and better for HD95.

The CI covers the sampling of our test cases only, not that of the paper's 14 (docs/evaluation.md, "Reading the
verdict").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.core.atomic import write_text_atomic
from hanseg.core.defaults import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_MIN_CASES, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from hanseg.core.output_files import OutputFiles
from hanseg.reporting.table2 import (
    evaluated_rows,
    organs_of,
    paper_table2,
    surface_table,
    table2,
    write_surface_table,
    write_table2,
)

__all__ = [
    "VERDICTS",
    "VS_PAPER_COLUMNS",
    "Bootstrap",
    "Table2Files",
    "bootstrap_ci",
    "bootstrap_interval",
    "expanded_tail",
    "verdict",
    "vs_paper",
    "write_tables",
]

VS_PAPER_COLUMNS: tuple[str, ...] = (
    "label",
    "oar_name",
    "n",
    "n_paper",
    "dc_mean_pct",
    "dc_ci_low_pct",
    "dc_ci_high_pct",
    "dc_mean_pct_paper",
    "dc_diff",
    "dc_verdict",
    "hd95_mean_mm",
    "hd95_ci_low_mm",
    "hd95_ci_high_mm",
    "hd95_mean_mm_paper",
    "hd95_diff",
    "hd95_verdict",
)

VERDICTS: tuple[str, ...] = ("consistent", "lower", "higher", "n/a")

#: Half of the last printed digit of the paper's means (one decimal).
PAPER_HALF_UNIT = 0.05


@dataclass(frozen=True)
class Bootstrap:
    """Options of the bootstrap CIs (config ``evaluation.bootstrap``; the defaults are the schema's)."""

    resamples: int = BOOTSTRAP_RESAMPLES
    seed: int = BOOTSTRAP_SEED
    confidence: float = BOOTSTRAP_CONFIDENCE
    min_cases: int = BOOTSTRAP_MIN_CASES

    def __post_init__(self):
        if self.resamples < 100:
            raise ValueError(f"bootstrap resamples must be at least 100, got {self.resamples}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"bootstrap confidence must lie in [0.5, 1), got {self.confidence}")
        if self.min_cases < 2:
            raise ValueError(f"bootstrap min_cases must be at least 2, got {self.min_cases}")


def _case_sums(chosen: pd.DataFrame, column: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per case with at least one finite value: the sum and the count of its finite values of `column`."""
    values = chosen[column].to_numpy(float) * scale
    finite = np.isfinite(values)
    frame = pd.DataFrame({"case": chosen["case"].to_numpy()[finite], "value": values[finite]})
    grouped = frame.groupby("case", sort=True)["value"]
    return grouped.sum().to_numpy(float), grouped.count().to_numpy(float)


def bootstrap_interval(
    sums: np.ndarray, counts: np.ndarray, rng: np.random.Generator, options: Bootstrap = Bootstrap()
) -> tuple[float, float]:
    """Percentile bootstrap CI of a mean over cases, each case given as the sum and count of its values (a
    pooled row's case holds two); NaN when fewer than ``options.min_cases`` cases."""
    n = sums.size
    if n < options.min_cases:
        return math.nan, math.nan
    draws = rng.integers(0, n, size=(options.resamples, n))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = expanded_tail(options.confidence, n)
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def expanded_tail(confidence: float, n: int) -> float:
    """The tail probability at which to read the bootstrap distribution of a mean of `n` cases.

    The plain percentile interval (tail (1 - confidence) / 2) is too narrow for small samples: it scales with
    the population SD and uses normal quantiles, and covers the mean of 11 cases only 88-93 % of the time
    (``bench/bench_bootstrap.py``). The expanded percentile interval (Hesterberg, "What teachers should know
    about the bootstrap", Am Stat 2015) reads it further out, at the normal tail of
    ``sqrt(n / (n - 1)) * t(n - 1)``, which for a symmetric distribution gives the width of Student's t interval.
    """
    from scipy import stats

    t = stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, n - 1)
    return float(stats.norm.sf(math.sqrt(n / (n - 1)) * t))


def bootstrap_ci(per_case: pd.DataFrame, options: Bootstrap = Bootstrap()) -> pd.DataFrame:
    """Per Table 2 row (its order): label, the cases bootstrapped and the CI bounds of the DC mean (%) and of
    the HD95 mean (mm)."""
    evaluated = evaluated_rows(per_case)
    rows = []
    for index, paper in enumerate(paper_table2().itertuples(index=False)):
        chosen = evaluated.loc[evaluated["organ"].isin(organs_of(paper.label, paper.pooled_from))]
        row = {"label": paper.label, "cases": int(chosen["case"].nunique())}
        for column, scale, low, high in (
            ("dc", 100.0, "dc_ci_low_pct", "dc_ci_high_pct"),
            ("hd95_mm", 1.0, "hd95_ci_low_mm", "hd95_ci_high_mm"),
        ):
            # The same draws of cases for both metrics of a row, and for the row whatever else is in the table.
            rng = np.random.default_rng([options.seed, index])
            row[low], row[high] = bootstrap_interval(*_case_sums(chosen, column, scale), rng, options)
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(low: float, high: float, paper: float, half_unit: float = PAPER_HALF_UNIT) -> str:
    """``consistent`` / ``lower`` / ``higher`` / ``n/a`` for our CI [low, high] against the paper's printed mean."""
    if any(math.isnan(v) for v in (low, high, paper)):
        return "n/a"
    if high < paper - half_unit:
        return "lower"
    if low > paper + half_unit:
        return "higher"
    return "consistent"


def vs_paper(table: pd.DataFrame, per_case: pd.DataFrame, options: Bootstrap = Bootstrap()) -> pd.DataFrame:
    """Our N, means and CIs next to the paper's N and means, the differences ours - paper and the verdicts
    (columns :data:`VS_PAPER_COLUMNS`). `table` is :func:`hanseg.table2.table2` of `per_case`."""
    paper = paper_table2().set_index("label")
    ci = bootstrap_ci(per_case, options).set_index("label")
    out = table[["label", "oar_name", "n"]].copy()
    out["n_paper"] = out["label"].map(paper["n"])
    for metric, unit, paper_column in (("dc", "pct", "dc_mean_pct"), ("hd95", "mm", "hd95_mean_mm")):
        ours = f"{metric}_mean_{unit}"
        out[ours] = table[ours]
        out[f"{metric}_ci_low_{unit}"] = out["label"].map(ci[f"{metric}_ci_low_{unit}"])
        out[f"{metric}_ci_high_{unit}"] = out["label"].map(ci[f"{metric}_ci_high_{unit}"])
        out[f"{paper_column}_paper"] = out["label"].map(paper[paper_column])
        out[f"{metric}_diff"] = out[ours] - out[f"{paper_column}_paper"]
        out[f"{metric}_verdict"] = [
            verdict(low, high, theirs)
            for low, high, theirs in zip(
                out[f"{metric}_ci_low_{unit}"],
                out[f"{metric}_ci_high_{unit}"],
                out[f"{paper_column}_paper"],
                strict=True,
            )
        ]
    # Three decimals: the paper gives one, and 1e-15 noise in the differences only hides them.
    return out[list(VS_PAPER_COLUMNS)].round(3)


@dataclass(frozen=True)
class Table2Files(OutputFiles):
    """Where :func:`write_tables` writes (the ``aggregate`` rule's outputs, by name)."""

    NAMES = {
        **{f"table2_{kind}": f"table2.{kind}" for kind in ("csv", "md", "tex")},
        **{f"surface_{kind}": f"table2_surface.{kind}" for kind in ("csv", "md")},
        "vs_paper": "table2_vs_paper.csv",
    }

    table2_csv: Path
    table2_md: Path
    table2_tex: Path
    #: The supplementary table of surface Dice and ASSD.
    surface_csv: Path
    surface_md: Path
    #: Our Table 2 against the paper's, with CIs and verdicts.
    vs_paper: Path


def write_tables(
    per_case: pd.DataFrame,
    outputs: Table2Files,
    options: Bootstrap = Bootstrap(),
    excluded: Mapping[str, str] | None = None,
) -> None:
    """Table 2 (csv, md, tex), the supplementary surface-metric table (csv, md) and the comparison with the paper;
    the md and tex files name the `excluded` cases (case -> why; registration.on_fail: exclude)."""
    table = table2(per_case)
    write_table2(table, outputs.table2_csv, outputs.table2_md, outputs.table2_tex, excluded)
    write_surface_table(surface_table(per_case), outputs.surface_csv, outputs.surface_md, excluded)
    comparison = vs_paper(table, per_case, options)
    write_text_atomic(outputs.vs_paper, comparison.to_csv(index=False, na_rep="nan", lineterminator="\n"))
