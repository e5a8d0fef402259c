from hanseg.jobs.dataset import inventory_case
from hanseg.jobs.rule_runner import run


def main(snakemake):
    inventory_case(
        snakemake.input.manifest, snakemake.output.record, case=snakemake.wildcards.case, strict=snakemake.params.strict
    )


run(snakemake, main)  # noqa: F821
