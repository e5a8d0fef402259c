from hanseg.jobs.reporting import figure2
from hanseg.jobs.rule_runner import run


def main(snakemake):
    figure2(snakemake.input.split, snakemake.output.png, method=snakemake.params.method)


run(snakemake, main)  # noqa: F821
