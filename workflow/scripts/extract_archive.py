from hanseg.jobs.dataset import extract_archive
from hanseg.jobs.rule_runner import run


def main(snakemake):
    extract_archive(
        snakemake.input.archive,
        snakemake.params.target,
        snakemake.output.manifest,
        source=snakemake.params.source,
        # Not a param: strictness changes whether the job succeeds, never what it writes, so it triggers no rerun.
        strict=snakemake.config["dataset"]["strict"],
    )


run(snakemake, main)  # noqa: F821
