"""Figure 2: the split of the cases (``split.tsv``): age distribution, gender and, where known, annotation type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.dataset.splits import EXCLUDED_ROLE, sets_of
from hanseg.reporting.figures.style import pyplot, save

#: "excluded": the cases a failed registration QC left out (registration.on_fail: exclude), shown, not hidden.
SET_COLOURS = {"all": "#7f7f7f", "train": "#1f77b4", "test": "#ff7f0e", "excluded": "#d62728"}
ANNOTATION_COLUMN = "annotation"  # optional column of split.tsv (HaN-Seg's public files do not record it)


def _bars(ax, sets: dict[str, pd.DataFrame], column: str, title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    values = sorted({str(v) for v in pd.concat([s[column] for s in sets.values()]).dropna()})
    width = 0.8 / len(sets)
    for i, (name, cases) in enumerate(sets.items()):
        counts = [int((cases[column].astype(str) == v).sum()) for v in values]
        positions = np.arange(len(values)) + (i - (len(sets) - 1) / 2) * width
        bars = ax.bar(positions, counts, width, color=SET_COLOURS[name], label=f"{name} (n = {len(cases)})")
        ax.bar_label(bars, fontweight="bold", fontsize=8)
    ax.set_xticks(np.arange(len(values)), values)
    ax.set_ylabel("cases")
    ax.set_title(title, fontsize=10)
    ax.margins(y=0.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)


def figure2(split: pd.DataFrame, out_png: Path | str, *, method: str = "") -> Path:
    """Age histograms per set (top), gender per set (bottom left), annotation type per set when known."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    sets = sets_of(split)
    has_annotation = ANNOTATION_COLUMN in split.columns and split[ANNOTATION_COLUMN].notna().any()
    fig = plt.figure(figsize=(10, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 2 if has_annotation else 1)
    age_ax = fig.add_subplot(grid[0, :])
    ages = split["age"].dropna().to_numpy(float)
    if ages.size:
        low, high = np.floor(ages.min() / 5) * 5, np.ceil((ages.max() + 1e-9) / 5) * 5
        bins = np.arange(low, max(high, low + 5) + 5, 5)
        for name, cases in sets.items():
            values = cases["age"].dropna().to_numpy(float)
            counts, _, patches = age_ax.hist(
                values,
                bins=bins,
                histtype="step" if name == "all" else "stepfilled",
                alpha=1.0 if name == "all" else 0.55,
                linewidth=2,
                color=SET_COLOURS[name],
                label=f"{name}: {values.mean():.1f} ± {values.std(ddof=1) if values.size > 1 else 0:.1f} years",
            )
        age_ax.set_xticks(bins)
    age_ax.set_xlabel("age (years, 5-year bins)")
    age_ax.set_ylabel("cases")
    age_ax.set_title("age", fontsize=10)
    age_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    age_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _bars(fig.add_subplot(grid[1, 0]), sets, "gender", "gender")
    if has_annotation:
        _bars(fig.add_subplot(grid[1, 1]), sets, ANNOTATION_COLUMN, "annotation type")
    title = f"Figure 2: the split ({method}) of {len(split)} cases".replace(" ()", "")
    excluded = int((split["role"] == EXCLUDED_ROLE).sum())
    if excluded:
        title += f", {excluded} excluded by registration QC"
    fig.suptitle(title, fontsize=12)
    return save(fig, out_png)
