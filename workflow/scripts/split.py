import logging

import pandas as pd

from hanseg.exclusion import failed_registrations, read_reports
from hanseg.rulelog import run
from hanseg.splits import make_split, write_split


def main(snakemake):
    options = snakemake.params.split
    cases = pd.read_csv(snakemake.input.cases, sep="\t")
    # The registrations are inputs under registration.on_fail: exclude only (see the rule).
    excluded = {}
    if "registrations" in snakemake.input.keys():
        excluded = failed_registrations(read_reports(snakemake.input.registrations))
    for case, reason in excluded.items():
        logging.getLogger("hanseg.rule.split").warning("%s excluded: %s", case, reason)
    table = make_split(
        cases,
        options["method"],
        test_fraction=options["test_fraction"],
        folds=options["folds"],
        seed=options["seed"],
        stratify=options["stratify"],
        excluded=excluded,
    )
    write_split(table, snakemake.output.split)


run(snakemake, main)  # noqa: F821
