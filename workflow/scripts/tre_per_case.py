import json
from pathlib import Path

from hanseg.figures.results import tre_per_case
from hanseg.rulelog import run


def main(snakemake):
    reports = {
        case: json.loads(Path(p).read_text())
        for case, p in zip(snakemake.params.cases, snakemake.input.reports, strict=True)
    }
    tre_per_case(reports, snakemake.output.png)


run(snakemake, main)  # noqa: F821
