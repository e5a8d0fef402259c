"""Figure of a paired comparison of two experiments: per organ, the mean difference and its CI, DC and HD95."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.core.defaults import BOOTSTRAP_CONFIDENCE
from hanseg.reporting.figures.style import pyplot, save

#: Holm-corrected p-value below which a difference is drawn filled.
SIGNIFICANCE = 0.05


def comparison_figure(
    table: pd.DataFrame, out_png: Path | str, *, names: tuple[str, str], confidence: float = BOOTSTRAP_CONFIDENCE
) -> Path:
    """`table` is :func:`hanseg.reporting.experiment_comparison.compare`'s (organs in Table 2's order, drawn top to
    bottom)."""
    plt = pyplot()
    a, b = names
    rows = table.reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.3 * max(len(rows), 4) + 2.0), sharey=True, layout="constrained")
    for ax, metric, xlabel, better in (
        (axes[0], "dc", "ΔDC (percentage points)", f"→ {a} better"),
        (axes[1], "hd95", "ΔHD95 (mm)", f"← {a} better"),
    ):
        mean = rows[f"{metric}_diff_mean"].to_numpy(float)
        low, high = rows[f"{metric}_diff_ci_low"].to_numpy(float), rows[f"{metric}_diff_ci_high"].to_numpy(float)
        significant = (rows[f"{metric}_p_holm"].to_numpy(float) < SIGNIFICANCE) & np.isfinite(mean)
        has_ci = np.isfinite(low) & np.isfinite(high)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.hlines(y[has_ci], low[has_ci], high[has_ci], color="#3b75af", linewidth=2.0)
        ax.scatter(mean[~significant], y[~significant], s=28, facecolors="white", edgecolors="#3b75af", zorder=3)
        ax.scatter(mean[significant], y[significant], s=28, color="#3b75af", zorder=3, label="p (Holm) < 0.05")
        ax.set_xlabel(f"{xlabel}   {better}")
        ax.grid(axis="x", alpha=0.3)
        if significant.any():
            ax.legend(fontsize=7, loc="lower right")
    counts = rows["n"].astype(int).astype(str)
    axes[0].set_yticks(y, [f"{organ} (n={n})" for organ, n in zip(rows["organ"], counts, strict=True)], fontsize=8)
    axes[0].set_ylim(-0.8, max(len(rows), 1) - 0.2)
    fig.suptitle(
        f"{a} minus {b}: mean paired difference and {100 * confidence:g} % bootstrap CI per organ "
        f"(up to {int(rows['n'].max()) if len(rows) else 0} test cases)",
        fontsize=10,
    )
    return save(fig, out_png)
