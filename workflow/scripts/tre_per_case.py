from hanseg.jobs.reporting import tre
from hanseg.jobs.rule_runner import run


def main(snakemake):
    tre(snakemake.params.cases, snakemake.input.reports, snakemake.output.png)


run(snakemake, main)  # noqa: F821
