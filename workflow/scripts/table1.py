from hanseg.jobs.reporting import table1
from hanseg.jobs.rule_runner import run


def main(snakemake):
    table1(snakemake.input.cases, snakemake.input.split, snakemake.output.csv, snakemake.output.md)


run(snakemake, main)  # noqa: F821
