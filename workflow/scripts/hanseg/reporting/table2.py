"""Table 2 of the HaN-Seg paper (Dice and HD95 per organ, mean ± SD over cases) from the per-case tables, and
beside it a supplementary table of the authors' other metrics (surface Dice at 2 mm, ASSD).

Rows and their order are the paper's (``data/paper_table2.csv``, shipped with the package): the 30 organs and
the pooled "both sides" rows, whose ``pooled_from`` column names the left and right organs; a pooled row takes
the evaluated rows of both sides together (so its N is the sum of theirs), as the paper's N column shows.

Statistics, over the evaluated rows only (the FoV and absent-organ rules of :mod:`hanseg.evaluation`):

- N: number of evaluated rows; mean and *population* SD (ddof = 0), as the paper: its pooled rows can be
  rebuilt from its left and right rows only with the population SD (``tests/reporting/test_table2.py`` rebuilds all
  16 pooled SDs). No SD when N < 2, everything NaN when N = 0.
- DC (and surface Dice) in %: every evaluated row counts, including empty predictions, whose Dice is 0.
- HD95 (and ASSD) in mm: an empty prediction has an infinite distance, which no mean can hold. Those rows are
  left out of the mean and SD and counted in ``hd95_infinite`` (``assd_infinite``); the rendered tables show
  them next to the value, e.g. ``3.1 ± 1.5 (+1 ∞)``, so a failure is never hidden. The md and tex files say so
  in a footnote.

Cases whose registration failed QC and were left out (``registration.on_fail: exclude``,
:mod:`hanseg.registration.qc_verdict`) are named with the reason in a note below the md and tex tables (none without
exclusions: the files are as ever).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.dataset.splits import exclusion_note

__all__ = [
    "FOOTNOTE",
    "SURFACE_COLUMNS",
    "SURFACE_FOOTNOTE",
    "TABLE2_COLUMNS",
    "evaluated_rows",
    "organs_of",
    "paper_table2",
    "surface_markdown",
    "surface_table",
    "table2",
    "tex_escape",
    "to_latex",
    "to_markdown",
    "write_surface_table",
    "write_table2",
]

TABLE2_COLUMNS: tuple[str, ...] = (
    "label",
    "oar_name",
    "n",
    "dc_mean_pct",
    "dc_sd_pct",
    "hd95_mean_mm",
    "hd95_sd_mm",
    "hd95_infinite",
)

SURFACE_COLUMNS: tuple[str, ...] = (
    "label",
    "oar_name",
    "n",
    "sdice_mean_pct",
    "sdice_sd_pct",
    "assd_mean_mm",
    "assd_sd_mm",
    "assd_infinite",
)

_N_NOTE = (
    "N: organs evaluated (present in the reference and, by the paper's rule, with more than 20 % of their volume "
    "inside the MR field of view); rows marked (both) pool the left and right organs. Mean ± population SD "
    "(ddof = 0, as the paper's pooled rows show; no SD for N < 2)."
)

FOOTNOTE = (
    f"{_N_NOTE} An empty prediction scores DC = 0, which is included in the DC mean, and an "
    "infinite HD95, which is left out of the HD95 mean and SD and counted as (+k ∞)."
)

SURFACE_FOOTNOTE = (
    "Not in the paper's Table 2: the HaN-Seg authors' other metrics, with DeepMind surface-distance's "
    "definitions. sDice: surface Dice at 2 mm tolerance (%); ASSD: average symmetric surface distance (mm). "
    f"{_N_NOTE} An empty prediction scores sDice = 0, included in the mean, and an infinite ASSD, left out of "
    "the ASSD mean and SD and counted as (+k ∞)."
)

_REQUIRED = ("case", "organ", "evaluated")


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 (package data): label, paper_nomenclature, oar_name, pooled_from, n, means and SDs."""
    text = resources.files("hanseg").joinpath("resources/paper_table2.csv").read_text(encoding="utf-8")
    table = pd.read_csv(io.StringIO(text), dtype={"label": str, "pooled_from": str})
    table["pooled_from"] = table["pooled_from"].fillna("").astype(str)
    return table


def organs_of(label: str, pooled_from: str) -> list[str]:
    """The organs a Table 2 row covers: the pooled ones, or the label itself."""
    return [name for name in pooled_from.split(";") if name] if pooled_from else [label]


def evaluated_rows(per_case: pd.DataFrame, scores: tuple[str, ...] = ("dc", "hd95_mm")) -> pd.DataFrame:
    """The evaluated rows of a per-case table, after checking it: columns, no (case, organ) twice, known organs,
    and a value in every `scores` column of an evaluated row (ValueError naming the first offender)."""
    missing = [c for c in (*_REQUIRED, *scores) if c not in per_case.columns]
    if missing:
        raise ValueError(f"per-case table: missing columns {', '.join(missing)}")
    duplicated = per_case.duplicated(["case", "organ"])
    if duplicated.any():
        first = per_case.loc[duplicated].iloc[0]
        raise ValueError(f"per-case table: {first['case']} {first['organ']} appears more than once")
    evaluated = per_case.loc[per_case["evaluated"].astype(str).str.lower().isin(["true", "1"])]
    broken = evaluated[list(scores)].isna().any(axis=1)
    if broken.any():
        first = evaluated.loc[broken].iloc[0]
        raise ValueError(f"per-case table: {first['case']} {first['organ']} is evaluated but has no score")
    unknown = sorted(set(per_case["organ"]) - set(dataset_layout.ORGANS))
    if unknown:
        raise ValueError(f"per-case table: unknown organs {', '.join(map(str, unknown[:5]))}")
    return evaluated


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def _sd(values: np.ndarray) -> float:
    # Population SD, as the paper (see the module docstring); a single value has no spread to report.
    return float(np.std(values, ddof=0)) if values.size >= 2 else math.nan


def _summary(per_case: pd.DataFrame, overlap: str, distance: str, names: tuple[str, ...]) -> pd.DataFrame:
    """One row per row of the paper's Table 2: N, mean and SD of `overlap` (in %) and of the finite values of
    `distance` (mm), and the count of infinite distances; `names` are the output columns after label, oar_name."""
    evaluated = evaluated_rows(per_case, (overlap, distance))
    rows = []
    for paper in paper_table2().itertuples(index=False):
        chosen = evaluated.loc[evaluated["organ"].isin(organs_of(paper.label, paper.pooled_from))]
        percent = chosen[overlap].to_numpy(float) * 100.0
        mm = chosen[distance].to_numpy(float)
        finite = mm[np.isfinite(mm)]
        values = (len(chosen), _mean(percent), _sd(percent), _mean(finite), _sd(finite), int(np.isinf(mm).sum()))
        rows.append({"label": paper.label, "oar_name": paper.oar_name, **dict(zip(names, values, strict=True))})
    return pd.DataFrame(rows, columns=["label", "oar_name", *names])


def table2(per_case: pd.DataFrame) -> pd.DataFrame:
    """One row per row of the paper's Table 2, in its order, with columns :data:`TABLE2_COLUMNS`.

    See the module docstring for N, the population SD, the pooled rows and how infinite HD95 values are treated.
    """
    return _summary(per_case, "dc", "hd95_mm", TABLE2_COLUMNS[2:])


def surface_table(per_case: pd.DataFrame) -> pd.DataFrame:
    """The supplementary table: Table 2's rows with surface Dice at 2 mm (%) and ASSD (mm), columns
    :data:`SURFACE_COLUMNS`, the same statistics as :func:`table2`."""
    return _summary(per_case, "sdice_2mm", "assd_mm", SURFACE_COLUMNS[2:])


def _mean_sd(mean: float, sd: float, infinite: int = 0, *, tex: bool = False) -> str:
    dash, pm = ("--", " $\\pm$ ") if tex else ("–", " ± ")
    text = dash if math.isnan(mean) else f"{mean:.1f}{pm}{dash if math.isnan(sd) else f'{sd:.1f}'}"
    if infinite:
        text += f" (+{infinite} $\\infty$)" if tex else f" (+{infinite} ∞)"
    return text


def _markdown(table: pd.DataFrame, headers: tuple[str, str], footnote: str, excluded: Mapping[str, str]) -> str:
    overlap, distance = table.columns[3:5], table.columns[5:8]
    lines = [f"| OAR | Name | N | {headers[0]} | {headers[1]} |", "|:--|:--|--:|--:|--:|"]
    for row in table.itertuples(index=False):
        values = row._asdict()
        left = _mean_sd(*(values[c] for c in overlap))
        right = _mean_sd(*(values[c] for c in distance))
        lines.append(f"| {row.label} | {row.oar_name} | {row.n} | {left} | {right} |")
    note = exclusion_note(excluded)
    return "\n".join(lines) + f"\n\n{footnote}\n" + (f"\n{note}\n" if note else "")


def to_markdown(table: pd.DataFrame, excluded: Mapping[str, str] | None = None) -> str:
    """GitHub markdown laid out like the paper's table, with the footnote on the SD and infinite HD95, and a note
    naming the `excluded` cases (case -> why) when there are any."""
    return _markdown(table[list(TABLE2_COLUMNS)], ("DC (%)", "HD95 (mm)"), FOOTNOTE, excluded or {})


def surface_markdown(table: pd.DataFrame, excluded: Mapping[str, str] | None = None) -> str:
    """The supplementary surface-metric table as GitHub markdown, with its footnote (and the exclusion note)."""
    return _markdown(table[list(SURFACE_COLUMNS)], ("sDice 2 mm (%)", "ASSD (mm)"), SURFACE_FOOTNOTE, excluded or {})


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _TEX_SPECIAL[m.group()], str(text))


def to_latex(table: pd.DataFrame, excluded: Mapping[str, str] | None = None) -> str:
    """A booktabs tabular (``\\usepackage{booktabs}``) with the footnote below it (and the exclusion note)."""
    lines = [
        "% Table 2: needs \\usepackage{booktabs}",
        "\\begin{tabular}{llrll}",
        "\\toprule",
        "OAR & Name & N & DC (\\%) & HD95 (mm) \\\\",
        "\\midrule",
    ]
    for row in table.itertuples(index=False):
        dc = _mean_sd(row.dc_mean_pct, row.dc_sd_pct, tex=True)
        hd = _mean_sd(row.hd95_mean_mm, row.hd95_sd_mm, row.hd95_infinite, tex=True)
        lines.append(f"{tex_escape(row.label)} & {tex_escape(row.oar_name)} & {row.n} & {dc} & {hd} \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    note = tex_escape(FOOTNOTE).replace("±", "$\\pm$").replace("∞", "$\\infty$").replace("<", "$<$")
    lines += ["\\par\\smallskip", f"{{\\footnotesize {note}}}", ""]
    if excluded:
        lines += ["\\par", f"{{\\footnotesize {tex_escape(exclusion_note(excluded))}}}", ""]
    return "\n".join(lines)


def _csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, na_rep="nan", lineterminator="\n")


def write_table2(
    table: pd.DataFrame, csv: Path | str, md: Path | str, tex: Path | str, excluded: Mapping[str, str] | None = None
) -> None:
    """Table 2 as csv, markdown and LaTeX, each written atomically; the md and tex name the `excluded` cases."""
    write_text_atomic(csv, _csv(table))
    write_text_atomic(md, to_markdown(table, excluded))
    write_text_atomic(tex, to_latex(table, excluded))


def write_surface_table(
    table: pd.DataFrame, csv: Path | str, md: Path | str, excluded: Mapping[str, str] | None = None
) -> None:
    """The surface-metric table as csv and markdown, each written atomically; the md names the `excluded` cases."""
    write_text_atomic(csv, _csv(table))
    write_text_atomic(md, surface_markdown(table, excluded))
