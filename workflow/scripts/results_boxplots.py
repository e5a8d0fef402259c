from hanseg.jobs.reporting import results_boxplots
from hanseg.jobs.rule_runner import run


def main(snakemake):
    results_boxplots(snakemake.input.per_case, snakemake.output.png)


run(snakemake, main)  # noqa: F821
