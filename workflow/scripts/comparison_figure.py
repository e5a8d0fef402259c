from hanseg.jobs.reporting import comparison_figure
from hanseg.jobs.rule_runner import run


def main(snakemake):
    comparison_figure(
        snakemake.input.csv,
        snakemake.output.png,
        names=(snakemake.wildcards.a, snakemake.wildcards.b),
        confidence=snakemake.params.confidence,
    )


run(snakemake, main)  # noqa: F821
