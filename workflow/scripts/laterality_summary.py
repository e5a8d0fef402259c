from hanseg.jobs.evaluation import laterality_summary
from hanseg.jobs.rule_runner import run


def main(snakemake):
    laterality_summary(snakemake.input.tables, snakemake.output.table, snakemake.output.summary)


run(snakemake, main)  # noqa: F821
