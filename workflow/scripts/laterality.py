from hanseg.laterality import check_laterality_files
from hanseg.rulelog import run


def main(snakemake):
    check_laterality_files(
        snakemake.input.prediction, snakemake.input.reference, snakemake.output.table, case=snakemake.wildcards.case
    )


run(snakemake, main)  # noqa: F821
