from hanseg.jobs.reporting import figure1
from hanseg.jobs.rule_runner import run


def main(snakemake):
    figure1(
        snakemake.input.ct, snakemake.input.mr, snakemake.input.fov, snakemake.output.png, case=snakemake.params.case
    )


run(snakemake, main)  # noqa: F821
