from hanseg.jobs.evaluation import laterality
from hanseg.jobs.rule_runner import run


def main(snakemake):
    laterality(
        snakemake.input.prediction, snakemake.input.reference, snakemake.output.table, case=snakemake.wildcards.case
    )


run(snakemake, main)  # noqa: F821
