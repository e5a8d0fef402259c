from hanseg.jobs.dataset import split
from hanseg.jobs.rule_runner import run


def main(snakemake):
    # The registrations are inputs under registration.on_fail: exclude only (see the rule).
    registrations = snakemake.input.registrations if "registrations" in snakemake.input.keys() else None
    split(snakemake.input.cases, snakemake.output.split, snakemake.params.split, registrations)


run(snakemake, main)  # noqa: F821
