from hanseg.jobs.reporting import figure4
from hanseg.jobs.rule_runner import run


def main(snakemake):
    figure4(
        snakemake.input.ct,
        snakemake.input.reference,
        snakemake.input.prediction,
        snakemake.output.png,
        case=snakemake.params.case,
    )


run(snakemake, main)  # noqa: F821
