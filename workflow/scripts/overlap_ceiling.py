from hanseg.jobs.evaluation import overlap_ceiling
from hanseg.jobs.rule_runner import run


def main(snakemake):
    overlap_ceiling(snakemake.input.overlaps, snakemake.input.summaries, snakemake.output.csv, snakemake.output.md)


run(snakemake, main)  # noqa: F821
