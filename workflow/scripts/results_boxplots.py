import pandas as pd

from hanseg.figures.results import boxplots
from hanseg.rulelog import run


def main(snakemake):
    boxplots(pd.read_csv(snakemake.input.per_case, sep="\t"), snakemake.output.png)


run(snakemake, main)  # noqa: F821
