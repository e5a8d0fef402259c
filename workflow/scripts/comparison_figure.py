import pandas as pd

from hanseg.figures.comparison import comparison_figure
from hanseg.rulelog import run


def main(snakemake):
    table = pd.read_csv(snakemake.input.csv, na_values=["nan"])
    comparison_figure(
        table,
        snakemake.output.png,
        names=(snakemake.wildcards.a, snakemake.wildcards.b),
        confidence=snakemake.params.confidence,
    )


run(snakemake, main)  # noqa: F821
