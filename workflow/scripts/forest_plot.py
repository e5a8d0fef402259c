from hanseg.jobs.reporting import forest
from hanseg.jobs.rule_runner import run


def main(snakemake):
    forest(snakemake.input.vs_paper, snakemake.output.png, confidence=snakemake.params.confidence)


run(snakemake, main)  # noqa: F821
