from hanseg.jobs.reporting import provenance
from hanseg.jobs.rule_runner import run


def main(snakemake):
    provenance(
        snakemake.config,
        snakemake.input.split,
        snakemake.input.checkpoints,
        snakemake.output.json,
        snakemake.output.md,
        known_versions=snakemake.params.known_versions,
        registrations=snakemake.input.registrations,
        experiments=snakemake.params.experiments,
        decisions=snakemake.input.decisions,
    )


run(snakemake, main)  # noqa: F821
