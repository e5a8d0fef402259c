from hanseg.jobs.dataset import inventory
from hanseg.jobs.rule_runner import run


def main(snakemake):
    inventory(snakemake.input.records, snakemake.output.cases, snakemake.output.organs)


run(snakemake, main)  # noqa: F821
