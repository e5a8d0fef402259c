import pandas as pd

from hanseg.rulelog import run
from hanseg.splits import make_split, write_split


def main(snakemake):
    options = snakemake.params.split
    cases = pd.read_csv(snakemake.input.cases, sep="\t")
    table = make_split(
        cases,
        options["method"],
        test_fraction=options["test_fraction"],
        folds=options["folds"],
        seed=options["seed"],
        stratify=options["stratify"],
    )
    write_split(table, snakemake.output.split)


run(snakemake, main)  # noqa: F821
