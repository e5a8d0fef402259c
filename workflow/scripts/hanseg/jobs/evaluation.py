"""The evaluation stage's jobs: the rules of workflow/rules/evaluation.smk (evaluate, aggregate, overlap_ceiling,
laterality, laterality_summary), shared with ``hanseg evaluate`` and ``hanseg table2``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from hanseg.core.atomic import write_text_atomic
from hanseg.dataset.splits import excluded_cases, read_split
from hanseg.evaluation.case_files import evaluate_files
from hanseg.evaluation.case_tables import aggregate as concatenate_case_tables
from hanseg.evaluation.case_tables import write_case_table
from hanseg.evaluation.laterality import check_laterality_files, summarise
from hanseg.evaluation.overlap_ceiling import ceiling_markdown, ceiling_table, read_case_overlaps
from hanseg.reporting.paper_comparison import Bootstrap, Table2Files, write_tables


def evaluate(
    prediction: Path | str,
    table: Path | str,
    *,
    reference: Path | str | None = None,
    record: Path | str | None = None,
    fov: Path | str | None = None,
    case: str | None = None,
    min_fov_fraction: float,
    percentile: float,
    resolve_overlaps: bool = False,
    resample_prediction: bool = False,
) -> list[dict]:
    """One case's scores per organ, as a table. The reference is a label map or a folder of organ masks; without
    one, the case's original masks (named by its inventory `record`) on the CT's own grid."""
    if reference is None:
        reference = json.loads(Path(record).read_text())["folder"]
    rows = evaluate_files(
        reference,
        prediction,
        fov,
        case=case,
        min_fov_fraction=min_fov_fraction,
        percentile=percentile,
        resample_prediction=resample_prediction,
        resolve_overlaps=resolve_overlaps,
    )
    write_case_table(rows, table)
    return rows


def table2(
    per_case: pd.DataFrame, outputs: Table2Files, bootstrap: Mapping, excluded: Mapping[str, str] | None = None
) -> None:
    """Table 2, its surface-metric companion and the comparison with the paper (`bootstrap`: config
    ``evaluation.bootstrap``), from the per-case rows."""
    write_tables(per_case, outputs, Bootstrap(**bootstrap), excluded or {})


def aggregate(
    tables: Iterable[Path | str],
    per_case: Path | str,
    outputs: Table2Files,
    bootstrap: Mapping,
    split: Path | str | None = None,
) -> None:
    """The test cases' tables into `per_case` (TSV) and Table 2; with `split` (registration.on_fail: exclude)
    Table 2 names the cases the split excluded."""
    rows = concatenate_case_tables(tables, per_case)
    excluded = excluded_cases(read_split(split)) if split is not None else {}
    table2(rows, outputs, bootstrap, excluded)


def overlap_ceiling(
    overlaps: Iterable[Path | str], summaries: Iterable[Path | str], csv: Path | str, md: Path | str
) -> None:
    """The Dice ceiling the training label map's overlap rule leaves, over the test cases."""
    cases = [read_case_overlaps(o, s) for o, s in zip(overlaps, summaries, strict=True)]
    table = ceiling_table(cases)
    write_text_atomic(csv, table.to_csv(index=False, na_rep="nan", lineterminator="\n"))
    write_text_atomic(md, ceiling_markdown(table))


def laterality(prediction: Path | str, reference: Path | str, table: Path | str, *, case: str) -> None:
    """Does every predicted left organ lie on the patient's left of its right partner, as in the reference?"""
    check_laterality_files(prediction, reference, table, case=case)


def laterality_summary(tables: Iterable[Path | str], table: Path | str, summary: Path | str) -> None:
    summarise(tables, table, summary)
