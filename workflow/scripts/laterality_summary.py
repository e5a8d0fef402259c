from hanseg.laterality import summarise
from hanseg.rulelog import run


def main(snakemake):
    summarise(snakemake.input.tables, snakemake.output.table, snakemake.output.summary)


run(snakemake, main)  # noqa: F821
