"""Table 2 of the HaN-Seg paper (Dice and HD95 per organ, mean ± SD over cases) from the per-case tables.

Rows and their order are the paper's (``data/paper_table2.csv``, shipped with the package): the 30 organs and
the pooled "both sides" rows, whose ``pooled_from`` column names the left and right organs; a pooled row takes
the evaluated rows of both sides together (so its N is the sum of theirs), as the paper's N column shows.

Statistics, over the evaluated rows only (the FoV and absent-organ rules of :mod:`hanseg.evaluation`):

- N: number of evaluated rows; mean and *sample* SD (ddof = 1), SD NaN when N < 2, everything NaN when N = 0.
- DC in %: every evaluated row counts, including empty predictions, whose Dice is 0.
- HD95 in mm: an empty prediction has an infinite HD95, which no mean can hold. Those rows are left out of the
  HD95 mean and SD and counted in ``hd95_infinite``; the rendered tables show them next to the value, e.g.
  ``3.1 ± 1.5 (+1 ∞)``, so a failure is never hidden. The md and tex files say so in a footnote.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import layout
from .atomic import write_text_atomic
from .evaluation import frame_to_tsv, read_case_tables

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

VS_PAPER_COLUMNS: tuple[str, ...] = (
    "label",
    "oar_name",
    "n",
    "n_paper",
    "dc_mean_pct",
    "dc_mean_pct_paper",
    "dc_diff",
    "hd95_mean_mm",
    "hd95_mean_mm_paper",
    "hd95_diff",
)

FOOTNOTE = (
    "N: organs evaluated (present in the reference and, by the paper's rule, with more than 20 % of their volume "
    "inside the MR field of view); rows marked (both) pool the left and right organs. Mean ± sample SD "
    "(ddof = 1; no SD for N < 2). An empty prediction scores DC = 0, which is included in the DC mean, and an "
    "infinite HD95, which is left out of the HD95 mean and SD and counted as (+k ∞)."
)

_REQUIRED = ("case", "organ", "dc", "hd95_mm", "evaluated")


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 (package data): label, paper_nomenclature, oar_name, pooled_from, n, means and SDs."""
    text = resources.files("hanseg").joinpath("data/paper_table2.csv").read_text(encoding="utf-8")
    table = pd.read_csv(io.StringIO(text), dtype={"label": str, "pooled_from": str})
    table["pooled_from"] = table["pooled_from"].fillna("").astype(str)
    return table


def organs_of(label: str, pooled_from: str) -> list[str]:
    """The organs a Table 2 row covers: the pooled ones, or the label itself."""
    return [name for name in pooled_from.split(";") if name] if pooled_from else [label]


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size >= 2 else math.nan


def table2(per_case: pd.DataFrame) -> pd.DataFrame:
    """One row per row of the paper's Table 2, in its order, with columns :data:`TABLE2_COLUMNS`.

    See the module docstring for N, the sample SD, the pooled rows and how infinite HD95 values are treated.
    """
    missing = [c for c in _REQUIRED if c not in per_case.columns]
    if missing:
        raise ValueError(f"per-case table: missing columns {', '.join(missing)}")
    duplicated = per_case.duplicated(["case", "organ"])
    if duplicated.any():
        first = per_case.loc[duplicated].iloc[0]
        raise ValueError(f"per-case table: {first['case']} {first['organ']} appears more than once")
    evaluated = per_case.loc[per_case["evaluated"].astype(str).str.lower().isin(["true", "1"])]
    broken = evaluated["dc"].isna() | evaluated["hd95_mm"].isna()
    if broken.any():
        first = evaluated.loc[broken].iloc[0]
        raise ValueError(f"per-case table: {first['case']} {first['organ']} is evaluated but has no score")
    unknown = sorted(set(per_case["organ"]) - set(layout.ORGANS))
    if unknown:
        raise ValueError(f"per-case table: unknown organs {', '.join(map(str, unknown[:5]))}")

    rows = []
    for paper in paper_table2().itertuples(index=False):
        chosen = evaluated.loc[evaluated["organ"].isin(organs_of(paper.label, paper.pooled_from))]
        dc = chosen["dc"].to_numpy(float) * 100.0
        hd = chosen["hd95_mm"].to_numpy(float)
        finite = hd[np.isfinite(hd)]
        rows.append(
            {
                "label": paper.label,
                "oar_name": paper.oar_name,
                "n": int(len(chosen)),
                "dc_mean_pct": _mean(dc),
                "dc_sd_pct": _sd(dc),
                "hd95_mean_mm": _mean(finite),
                "hd95_sd_mm": _sd(finite),
                "hd95_infinite": int(np.isinf(hd).sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE2_COLUMNS))


def vs_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Our N and means next to the paper's, with the differences ours - paper."""
    paper = paper_table2().set_index("label")
    out = table[["label", "oar_name", "n"]].copy()
    out["n_paper"] = out["label"].map(paper["n"])
    out["dc_mean_pct"] = table["dc_mean_pct"]
    out["dc_mean_pct_paper"] = out["label"].map(paper["dc_mean_pct"])
    out["dc_diff"] = out["dc_mean_pct"] - out["dc_mean_pct_paper"]
    out["hd95_mean_mm"] = table["hd95_mean_mm"]
    out["hd95_mean_mm_paper"] = out["label"].map(paper["hd95_mean_mm"])
    out["hd95_diff"] = out["hd95_mean_mm"] - out["hd95_mean_mm_paper"]
    # Three decimals: the paper gives one, and 1e-15 noise in the differences only hides them.
    return out[list(VS_PAPER_COLUMNS)].round(3)


def _mean_sd(mean: float, sd: float, infinite: int = 0, *, tex: bool = False) -> str:
    dash, pm = ("--", " $\\pm$ ") if tex else ("–", " ± ")
    text = dash if math.isnan(mean) else f"{mean:.1f}{pm}{dash if math.isnan(sd) else f'{sd:.1f}'}"
    if infinite:
        text += f" (+{infinite} $\\infty$)" if tex else f" (+{infinite} ∞)"
    return text


def to_markdown(table: pd.DataFrame) -> str:
    """GitHub markdown laid out like the paper's table, with the footnote on infinite HD95."""
    lines = ["| OAR | Name | N | DC (%) | HD95 (mm) |", "|:--|:--|--:|--:|--:|"]
    for row in table.itertuples(index=False):
        dc = _mean_sd(row.dc_mean_pct, row.dc_sd_pct)
        hd = _mean_sd(row.hd95_mean_mm, row.hd95_sd_mm, row.hd95_infinite)
        lines.append(f"| {row.label} | {row.oar_name} | {row.n} | {dc} | {hd} |")
    return "\n".join(lines) + f"\n\n{FOOTNOTE}\n"


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


def to_latex(table: pd.DataFrame) -> str:
    """A booktabs tabular (``\\usepackage{booktabs}``) with the footnote below it."""
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
    return "\n".join(lines)


def write_table2(table: pd.DataFrame, out_dir: Path | str) -> dict[str, Path]:
    """table2.csv, table2.md, table2.tex and table2_vs_paper.csv in `out_dir`, each written atomically."""
    out_dir = Path(out_dir)
    paths = {name: out_dir / name for name in ("table2.csv", "table2.md", "table2.tex", "table2_vs_paper.csv")}
    write_text_atomic(paths["table2.csv"], table.to_csv(index=False, na_rep="nan", lineterminator="\n"))
    write_text_atomic(paths["table2.md"], to_markdown(table))
    write_text_atomic(paths["table2.tex"], to_latex(table))
    write_text_atomic(
        paths["table2_vs_paper.csv"], vs_paper(table).to_csv(index=False, na_rep="nan", lineterminator="\n")
    )
    return paths


def _case_number(case: str) -> int:
    match = re.search(r"(\d+)$", str(case))
    return int(match.group(1)) if match else -1


def aggregate(case_tsvs: Iterable[Path | str], out_tsv: Path | str) -> pd.DataFrame:
    """Concatenate per-case tables into one (sorted by case number, then organ id), written atomically."""
    frame = read_case_tables(case_tsvs)
    order = frame["organ"].map(layout.LABEL_IDS).fillna(len(layout.ORGANS) + 1)
    frame = (
        frame.assign(_number=frame["case"].map(_case_number), _organ=order)
        .sort_values(["_number", "case", "_organ"], kind="stable")
        .drop(columns=["_number", "_organ"])
        .reset_index(drop=True)
    )
    write_text_atomic(out_tsv, frame_to_tsv(frame))
    return frame
