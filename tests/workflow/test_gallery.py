"""The documentation's gallery is made from a run by a script (docs/make_gallery.py), not by hand: on the CI phantom
run it shows every figure the report holds, each with the report's caption, and inlines the Markdown tables."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support import REPO


def _make_gallery():
    spec = importlib.util.spec_from_file_location("make_gallery", REPO / "docs/make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_report_output_of_the_rules_is_found_with_a_caption():
    gallery = _make_gallery()
    outputs = gallery.report_outputs()
    assert len(outputs) >= 20
    for _, caption, _ in outputs:
        assert gallery.caption_text(caption) and "{{" not in gallery.caption_text(caption)


@pytest.mark.slow
def test_the_gallery_of_a_finished_run_shows_every_figure_and_table(finished_run, tmp_path):
    results = finished_run / "results"
    page = _make_gallery().make_gallery(results, tmp_path)
    text = page.read_text()
    figures = sorted((results / "figures").glob("*.png"))
    assert len(figures) >= 8  # figures 1-4, box plots, forest plot, registration montage, TRE per case
    for figure in figures:
        copied = tmp_path / "gallery" / f"figures__{figure.name}"
        assert copied.read_bytes() == figure.read_bytes()
        assert f"](gallery/figures__{figure.name})" in text
    table2 = next(results.glob("experiments/*/evaluation/table2.md")).read_text().strip()
    assert table2 in text and "## Figures" in text and "## Evaluation" in text
