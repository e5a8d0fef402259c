from hanseg.jobs.reporting import figure3
from hanseg.jobs.rule_runner import run


def main(snakemake):
    figure3(snakemake.input.labels, snakemake.output.png, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
