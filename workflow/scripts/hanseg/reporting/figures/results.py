"""Results figures: Dice and HD95 per organ beside the paper's means, the registration montage, TRE per case."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from hanseg.core.defaults import BOOTSTRAP_CONFIDENCE
from hanseg.core.images import read_image
from hanseg.reporting.figures.registration_qc import (
    CT_WINDOW,
    PLANE_ORIGINS,
    fov_centre,
    mr_window_top,
    normalise,
    plane_extents,
    planes,
)
from hanseg.reporting.figures.style import ORGAN_COLOURS, bare, pyplot, save, scale_bar
from hanseg.reporting.table2 import paper_table2

# AAPM TG-132 (the paper's reference): mean TRE below 2 mm and maximum below 5 mm; the paper's own mean 1.5 mm.
TRE_MEAN_LIMIT_MM = 2.0
TRE_MAX_LIMIT_MM = 5.0
TRE_PAPER_MEAN_MM = 1.5


def table2_organs() -> pd.DataFrame:
    """The single-organ rows of the paper's Table 2, in its order (the pooled "both" rows left out)."""
    paper = paper_table2()
    return paper.loc[paper["pooled_from"] == ""].reset_index(drop=True)


def _evaluated(per_case: pd.DataFrame) -> pd.DataFrame:
    return per_case.loc[per_case["evaluated"].astype(str).str.lower().isin(["true", "1"])]


def boxplots(per_case: pd.DataFrame, out_png: Path | str) -> Path:
    """DC (%) and HD95 (mm) per organ over the evaluated cases, Table 2's order; red diamonds: the paper's means."""
    plt = pyplot()
    organs = table2_organs()
    evaluated = _evaluated(per_case)
    fig, (dc_ax, hd_ax) = plt.subplots(2, 1, figsize=(15, 9), sharex=True, layout="constrained")
    positions = np.arange(len(organs))
    infinite = []
    hd_values = [np.empty(0)]
    for ax, column, scale, paper_column, ylabel in (
        (dc_ax, "dc", 100.0, "dc_mean_pct", "DC (%)"),
        (hd_ax, "hd95_mm", 1.0, "hd95_mean_mm", "HD95 (mm)"),
    ):
        data = []
        for organ in organs["label"]:
            values = evaluated.loc[evaluated["organ"] == organ, column].to_numpy(float) * scale
            if column == "hd95_mm":
                infinite.append(int(np.isinf(values).sum()))
            data.append(values[np.isfinite(values)])
        if column == "hd95_mm":
            hd_values += data
        boxes = ax.boxplot(
            [d if d.size else [np.nan] for d in data],
            positions=positions,
            widths=0.6,
            patch_artist=True,
            showfliers=True,
            medianprops={"color": "black"},
            flierprops={"markersize": 3},
        )
        for patch, organ in zip(boxes["boxes"], organs["label"], strict=True):
            patch.set_facecolor(ORGAN_COLOURS[organ])
            patch.set_alpha(0.8)
        ax.scatter(
            positions,
            organs[paper_column],
            marker="D",
            s=28,
            color="red",
            zorder=5,
            label="paper (Table 2 mean)",
        )
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    dc_ax.set_ylim(0, 105)
    # A failed organ's HD95 can be 100 times the paper's: a log scale beyond 1 mm keeps both readable.
    hd_ax.set_yscale("symlog", linthresh=1.0)
    finite_hd = [v for v in (*np.concatenate(hd_values), *organs["hd95_mean_mm"]) if np.isfinite(v)]
    hd_ax.set_ylim(0, 3 * max(finite_hd, default=10.0))  # head room for the (+k ∞) counts
    for position, count in zip(positions, infinite, strict=True):
        if count:  # empty predictions: infinite HD95, counted rather than hidden
            hd_ax.annotate(
                f"+{count} ∞",
                (position, 0.98),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="top",
                fontsize=7,
                color="red",
            )
    handles, labels = dc_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", fontsize=8)
    n = evaluated["case"].nunique()
    hd_ax.set_xticks(positions, organs["label"], rotation=60, ha="right", fontsize=8)
    fig.suptitle(
        f"Dice and HD95 per organ over {n} test case{'s' if n != 1 else ''} (boxes) vs. the paper", fontsize=12
    )
    return save(fig, out_png)


#: Colour of our mean and CI per verdict (the paper's mean is always a red diamond).
VERDICT_COLOURS = {"consistent": "#3b75af", "lower": "#e07b00", "higher": "#8e44ad", "n/a": "#9a9a9a"}


def forest_plot(vs_paper: pd.DataFrame, out_png: Path | str, *, confidence: float = BOOTSTRAP_CONFIDENCE) -> Path:
    """Per Table 2 row: our mean DC and HD95 with their bootstrap CI (coloured by verdict) and the paper's mean.

    `vs_paper` is ``table2_vs_paper.csv`` (:data:`hanseg.reporting.paper_comparison.VS_PAPER_COLUMNS`); rows in its
    order, top to bottom, pooled "both" rows in italics.
    """
    plt = pyplot()
    rows = vs_paper.reset_index(drop=True)
    pooled = set(paper_table2().query("pooled_from != ''")["label"])
    y = np.arange(len(rows))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.26 * len(rows) + 2.2), sharey=True, layout="constrained")
    summaries = []
    for ax, metric, unit, xlabel in (
        (axes[0], "dc", "pct", "DC (%)"),
        (axes[1], "hd95", "mm", "HD95 (mm)"),
    ):
        mean = rows[f"{metric}_mean_{unit}"].to_numpy(float)
        low, high = rows[f"{metric}_ci_low_{unit}"].to_numpy(float), rows[f"{metric}_ci_high_{unit}"].to_numpy(float)
        paper_column = "dc_mean_pct_paper" if metric == "dc" else "hd95_mean_mm_paper"
        verdicts = rows[f"{metric}_verdict"].fillna("n/a").astype(str)  # pandas reads "n/a" as NaN
        for word, colour in VERDICT_COLOURS.items():
            chosen = (verdicts == word).to_numpy()
            if not chosen.any():
                continue
            has_ci = chosen & np.isfinite(low)
            ax.hlines(y[has_ci], low[has_ci], high[has_ci], color=colour, linewidth=2.2)
            ax.scatter(mean[chosen], y[chosen], s=22, color=colour, zorder=3, label=f"ours: {word} ({chosen.sum()})")
        ax.scatter(rows[paper_column], y, marker="D", s=26, color="red", zorder=4, label="paper (14 test cases)")
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left" if metric == "dc" else "lower right")
        counts = verdicts.value_counts()
        summaries.append(
            f"{xlabel.split()[0]}: " + ", ".join(f"{counts[w]} {w}" for w in VERDICT_COLOURS if w in counts)
        )
    if np.nanmax([*rows["hd95_ci_high_mm"], *rows["hd95_mean_mm"], 10.0]) > 30:
        axes[1].set_xscale("symlog", linthresh=10.0)  # a failed organ's HD95 must not squash the others
    axes[0].set_yticks(y, rows["label"], fontsize=8)
    for tick, label in zip(axes[0].get_yticklabels(), rows["label"], strict=True):
        if label in pooled:
            tick.set_fontstyle("italic")
    axes[0].set_ylim(-0.8, len(rows) - 0.2)
    single = rows.loc[~rows["label"].isin(pooled), "n"]
    n_cases = int(single.max()) if len(single) else 0
    fig.suptitle(
        f"Our mean and {100 * confidence:g} % bootstrap CI per organ (up to {n_cases} evaluated test cases) against"
        f" the paper's mean\n{'; '.join(summaries)}",
        fontsize=10,
    )
    return save(fig, out_png)


def _title(case: str, record: dict) -> str:
    parts = [case]
    if "head_dice" in record:
        parts.append(f"head Dice {record['head_dice']['final']:.2f}")
    if record.get("tre_mm"):
        parts.append(f"TRE {record['tre_mm']['mean']:.1f} mm")
    qc = record.get("qc")
    if qc and qc.get("status") in ("warn", "fail"):  # flagged by the registration QC (registration.qc)
        parts.append(f"QC {qc['status'].upper()} ({qc['measure']} {qc['value']})")
    if qc and qc.get("status") == "fail":
        # A failed registration leaves a report only under registration.on_fail: exclude (under error its job fails
        # and Snakemake removes its outputs), so every fail shown here is a case left out of training and evaluation.
        parts.append("excluded")
    return ", ".join(parts)


def registration_montage(cases: list[dict], out_png: Path | str, *, columns: int | None = None) -> Path:
    """Axial and coronal colour fusions (CT green, MR magenta) of every case, through its MR field of view.

    `cases`: dicts with case, ct, mr (registered, on the CT grid), fov (paths) and report (registration.json path).
    """
    plt = pyplot()
    columns = columns or min(3, max(1, math.ceil(math.sqrt(len(cases)))))  # 42 cases: 3 per row, 14 rows
    rows = math.ceil(len(cases) / columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(4.8 * columns, 2.8 * rows + 0.6), squeeze=False)
    fig.patch.set_facecolor("black")
    for ax in axes.ravel():
        ax.set_facecolor("black")
        bare(ax)
    for index, entry in enumerate(cases):
        ct = read_image(entry["ct"])
        ct_array = sitk.GetArrayViewFromImage(ct)
        # Copies, not views: a view of a temporary image points at freed memory once the image is collected.
        mr_array = sitk.GetArrayFromImage(read_image(entry["mr"]))
        fov = sitk.GetArrayFromImage(read_image(entry["fov"], "mask")) > 0
        centre = fov_centre(fov)
        mr_high = mr_window_top(mr_array, fov)
        ct_planes = planes(ct_array, centre)
        mr_planes = planes(mr_array, centre)
        extents = plane_extents(ct.GetSpacing(), ct_array.shape)
        record = json.loads(Path(entry["report"]).read_text())
        row, column = divmod(index, columns)
        for plane in (0, 1):  # axial, coronal
            ax = axes[row, 2 * column + plane]
            ct_view = normalise(ct_planes[plane], *CT_WINDOW)
            mr_view = normalise(mr_planes[plane], 0.0, mr_high)
            ax.imshow(
                np.stack([mr_view, ct_view, mr_view], axis=-1),
                extent=extents[plane],
                origin=PLANE_ORIGINS[plane],
                interpolation="antialiased",
            )
            scale_bar(ax, extents[plane])
        axes[row, 2 * column].set_title(_title(entry["case"], record), color="white", fontsize=9, loc="left")
    fig.suptitle(
        "Registration QC: axial and coronal fusion per case (CT green, MR magenta, grey where they agree)",
        color="white",
        fontsize=11,
    )
    fig.tight_layout()
    return save(fig, out_png, dpi=90)


def tre_per_case(reports: dict[str, dict], out_png: Path | str) -> Path:
    """TRE per landmark (dots) and per-case mean (bar) against TG-132's 2 mm mean and 5 mm maximum."""
    plt = pyplot()
    with_tre = {case: r["tre_mm"] for case, r in reports.items() if r.get("tre_mm")}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(reports) + 3), 4.5), layout="constrained")
    positions = np.arange(len(with_tre))
    ax.bar(positions, [t["mean"] for t in with_tre.values()], color="#9ecae1", label="mean per case")
    for position, tre in zip(positions, with_tre.values(), strict=True):
        values = list(tre["per_landmark"].values())
        ax.scatter(np.full(len(values), position), values, s=12, color="#08519c", zorder=3)
    ax.scatter([], [], s=12, color="#08519c", label="per landmark")
    ax.axhline(TRE_MEAN_LIMIT_MM, color="orange", linestyle="--", label="TG-132: mean < 2 mm")
    ax.axhline(TRE_MAX_LIMIT_MM, color="red", linestyle="--", label="TG-132: max < 5 mm")
    ax.axhline(TRE_PAPER_MEAN_MM, color="green", linestyle=":", label="paper: mean 1.5 mm")
    ax.set_xticks(positions, list(with_tre), rotation=60 if len(with_tre) > 8 else 0, ha="right", fontsize=8)
    ax.set_ylabel("target registration error (mm)")
    missing = len(reports) - len(with_tre)
    note = f"; {missing} case{'s' if missing != 1 else ''} without landmarks" if missing else ""
    all_values = [v for t in with_tre.values() for v in t["per_landmark"].values()]
    summary = f"mean {np.mean(all_values):.2f} mm, max {np.max(all_values):.2f} mm" if all_values else "no landmarks"
    fig.suptitle(f"TRE after registration over {len(with_tre)} cases: {summary}{note}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save(fig, out_png)
