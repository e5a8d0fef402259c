"""The reporting stage's jobs: the rules of workflow/rules/figures.smk (Table 1, the figures, the provenance) and
compare_experiments (workflow/rules/evaluation.smk)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from hanseg.core.images import read_image
from hanseg.reporting.experiment_comparison import compare_files
from hanseg.reporting.figures.cohort import figure2 as draw_figure2
from hanseg.reporting.figures.comparison import comparison_figure as draw_comparison_figure
from hanseg.reporting.figures.images import figure1 as draw_figure1
from hanseg.reporting.figures.images import figure4 as draw_figure4
from hanseg.reporting.figures.results import boxplots, forest_plot, registration_montage, tre_per_case
from hanseg.reporting.figures.surface import figure3 as draw_figure3
from hanseg.reporting.paper_comparison import Bootstrap
from hanseg.reporting.provenance import provenance as provenance_record
from hanseg.reporting.provenance import write_provenance
from hanseg.reporting.table1 import table1 as table1_of
from hanseg.reporting.table1 import write_table1


def table1(cases: Path | str, split: Path | str, csv: Path | str, md: Path | str) -> None:
    write_table1(table1_of(pd.read_csv(cases, sep="\t"), pd.read_csv(split, sep="\t")), csv, md)


def figure1(ct: Path | str, mr: Path | str, fov: Path | str, png: Path | str, *, case: str) -> None:
    draw_figure1(read_image(ct), read_image(mr), png, fov_mask=read_image(fov, "mask"), case=case)


def figure2(split: Path | str, png: Path | str, *, method: str) -> None:
    draw_figure2(pd.read_csv(split, sep="\t"), png, method=method)


def figure3(labels: Path | str, png: Path | str, *, case: str) -> None:
    image = read_image(labels, "labels")
    draw_figure3(sitk.GetArrayViewFromImage(image), image.GetSpacing(), png, case=case)


def figure4(ct: Path | str, reference: Path | str, prediction: Path | str, png: Path | str, *, case: str) -> None:
    labels = (read_image(reference, "labels"), read_image(prediction, "labels"))
    draw_figure4(read_image(ct), *labels, png, case=case)


def results_boxplots(per_case: Path | str, png: Path | str) -> None:
    boxplots(pd.read_csv(per_case, sep="\t"), png)


def forest(vs_paper: Path | str, png: Path | str, *, confidence: float) -> None:
    forest_plot(pd.read_csv(vs_paper, keep_default_na=False, na_values=["nan"]), png, confidence=confidence)


def montage(cases: Sequence[str], files: Mapping[str, Sequence[Path | str]], png: Path | str) -> None:
    """The registration QC of every case in one picture; `files`: "ct", "mr", "fov", "report" -> one path per case."""
    names = ("ct", "mr", "fov", "report")
    rows = [{"case": case, **{name: files[name][i] for name in names}} for i, case in enumerate(cases)]
    registration_montage(rows, png)


def tre(cases: Sequence[str], reports: Sequence[Path | str], png: Path | str) -> None:
    tre_per_case({case: json.loads(Path(p).read_text()) for case, p in zip(cases, reports, strict=True)}, png)


def compare_experiments(
    a: Path | str,
    b: Path | str,
    csv: Path | str,
    md: Path | str,
    *,
    names: tuple[str, str],
    descriptions: tuple[str, str],
    bootstrap: Mapping,
) -> None:
    """Two experiments' per-case tables compared organ by organ, over the cases both evaluated."""
    compare_files(a, b, csv, md, names=names, descriptions=descriptions, options=Bootstrap(**bootstrap))


def comparison_figure(csv: Path | str, png: Path | str, *, names: tuple[str, str], confidence: float) -> None:
    draw_comparison_figure(pd.read_csv(csv, na_values=["nan"]), png, names=names, confidence=confidence)


def provenance(
    config: Mapping,
    split: Path | str,
    checkpoints: Iterable[Path | str],
    json_path: Path | str,
    md: Path | str,
    *,
    known_versions: Mapping,
    registrations: Iterable[Path | str],
    experiments: object,
    decisions: Iterable[Path | str] = (),
) -> None:
    """The run's provenance; nnU-Net training writes hanseg_training.json beside each fold's final checkpoint."""
    records = [Path(p).with_name("hanseg_training.json") for p in checkpoints]
    record = provenance_record(
        dict(config),
        pd.read_csv(split, sep="\t"),
        records,
        known_versions,
        registration_reports=registrations,
        experiments=experiments,
        decisions=decisions,
    )
    write_provenance(record, json_path, md)
