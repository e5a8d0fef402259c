from hanseg.jobs.dataset import clip_ct
from hanseg.jobs.rule_runner import run


def main(snakemake):
    clip_ct(snakemake.input.record, snakemake.output.ct, hu_range=snakemake.params.hu_range)


run(snakemake, main)  # noqa: F821
