from hanseg.jobs.dataset import make_phantom
from hanseg.jobs.rule_runner import run


def main(snakemake):
    make_phantom(snakemake.output.archive, snakemake.output.truth, **dict(snakemake.params.items()))


run(snakemake, main)  # noqa: F821
