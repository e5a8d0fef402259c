from hanseg.jobs.reporting import compare_experiments
from hanseg.jobs.rule_runner import run


def main(snakemake):
    compare_experiments(
        snakemake.input.a,
        snakemake.input.b,
        snakemake.output.csv,
        snakemake.output.md,
        names=(snakemake.wildcards.a, snakemake.wildcards.b),
        descriptions=(snakemake.params.description_a, snakemake.params.description_b),
        bootstrap=snakemake.params.bootstrap,
    )


run(snakemake, main)  # noqa: F821
