"""The documentation's gallery, made from a finished run: every figure and table the run's report holds.

    python docs/make_gallery.py results/demo          # after `snakemake --configfile config/demo.yaml`

writes ``docs/gallery.md`` and copies the figures to ``docs/gallery/``. What goes in is what the rules declare as
``report(...)`` outputs (workflow/rules/*.smk), each with the caption the report gives it (workflow/report/*.rst):
one source for the report and the gallery. Figures are shown, Markdown tables are inlined, CSV and TSV tables are
named (they are long). Run it again after a new demo run; nothing in the page is written by hand.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow/rules"
CAPTIONS = REPO / "workflow/report"
#: The rules' path variables, as folders under a run's results_dir ({variant}: every experiment).
FOLDERS = {
    "RESULTS": "",
    "FIGURES": "figures",
    "TABLES": "tables",
    "EVALUATION": "experiments/*/evaluation",
    "REGISTRATION": "cases/*/registration",
}
_REPORT = re.compile(r'report\(\s*f"\{(\w+)\}/([^"]+)",\s*caption="\.\./report/(\w+)\.rst",\s*category="([^"]+)"')


def report_outputs() -> list[tuple[str, str, str]]:
    """(glob under results_dir, caption file, category) of every ``report(...)`` output, in the rules' order."""
    found = []
    for smk in sorted(RULES.glob("*.smk")):
        for variable, path, caption, category in _REPORT.findall(smk.read_text()):
            pattern = re.sub(r"\{+\w+\}+", "*", path)
            found.append(("/".join(p for p in (FOLDERS[variable], pattern) if p), caption, category))
    return found


def caption_text(name: str) -> str:
    """The report's caption, its template fields (the case a figure shows) said in words."""
    text = (CAPTIONS / f"{name}.rst").read_text()
    text = re.sub(r"\{\{[^}]*\}\}", "(the figure case)", text)
    return " ".join(text.split())


def _section(path: Path, results: Path, caption: str, images: Path, page: Path) -> list[str]:
    relative = path.relative_to(results)
    lines = [f"### `{relative}`", "", caption, ""]
    if path.suffix == ".png":
        name = str(relative).replace("/", "__")
        shutil.copyfile(path, images / name)
        lines += [f"![{relative}]({images.relative_to(page.parent)}/{name})", ""]
    elif path.suffix == ".md":
        lines += [path.read_text().strip(), ""]
    else:
        lines += [f"A table of {sum(1 for _ in path.open()) - 1} rows in the run's results.", ""]
    return lines


def make_gallery(results: Path, docs: Path) -> Path:
    """Write `docs`/gallery.md and `docs`/gallery/*.png from the run under `results`; returns the page."""
    page, images = docs / "gallery.md", docs / "gallery"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    lines = [
        "# Gallery",
        "",
        f"Every figure and table of the report of the CPU demo (`{results.name}`), with its caption; made by "
        "`docs/make_gallery.py` from the run's results. For one registration's QC picture only the first case is "
        "shown.",
        "",
    ]
    groups: dict[str, list[tuple[str, str]]] = {}
    for pattern, caption, group in report_outputs():
        groups.setdefault(group, []).append((pattern, caption))
    for group, outputs in groups.items():
        sections = []
        for pattern, caption in outputs:
            paths = sorted(results.glob(pattern))
            for path in paths[:1] if pattern.startswith("cases/") else paths:
                sections += _section(path, results, caption_text(caption), images, page)
        if sections:
            lines += [f"## {group}", "", *sections]
    page.write_text("\n".join(lines).rstrip() + "\n")
    return page


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a finished run's results_dir (results/demo)")
    parser.add_argument("--docs", type=Path, default=REPO / "docs", help="the documentation folder (default docs/)")
    args = parser.parse_args(argv)
    print(make_gallery(args.results.resolve(), args.docs))


if __name__ == "__main__":
    main()
