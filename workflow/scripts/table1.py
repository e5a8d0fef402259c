import pandas as pd

from hanseg.rulelog import run
from hanseg.table1 import table1, write_table1


def main(snakemake):
    cases = pd.read_csv(snakemake.input.cases, sep="\t")
    split = pd.read_csv(snakemake.input.split, sep="\t")
    write_table1(table1(cases, split), snakemake.output.csv, snakemake.output.md)


run(snakemake, main)  # noqa: F821
