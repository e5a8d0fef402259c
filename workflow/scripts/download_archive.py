from hanseg.dataset.download import download_file
from hanseg.jobs.rule_runner import run


def main(snakemake):
    download_file(
        snakemake.params.url,
        snakemake.output[0],
        sha256=snakemake.params.sha256,
        size=snakemake.params.size,
        retries=snakemake.params.retries,
    )


run(snakemake, main)  # noqa: F821
