import pandas as pd

from hanseg.figures.results import forest_plot
from hanseg.rulelog import run


def main(snakemake):
    vs_paper = pd.read_csv(snakemake.input.vs_paper, keep_default_na=False, na_values=["nan"])
    forest_plot(vs_paper, snakemake.output.png, confidence=snakemake.params.confidence)


run(snakemake, main)  # noqa: F821
