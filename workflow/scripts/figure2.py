import pandas as pd

from hanseg.figures.cohort import figure2
from hanseg.rulelog import run


def main(snakemake):
    split = pd.read_csv(snakemake.input.split, sep="\t")
    figure2(split, snakemake.output.png, method=snakemake.params.method)


run(snakemake, main)  # noqa: F821
