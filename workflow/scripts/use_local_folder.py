from hanseg.jobs.dataset import use_local_folder
from hanseg.jobs.rule_runner import run


def main(snakemake):
    # Not a param: strictness changes whether the job succeeds, never what it writes, so it triggers no rerun.
    use_local_folder(snakemake.params.folder, snakemake.output.manifest, strict=snakemake.config["dataset"]["strict"])


run(snakemake, main)  # noqa: F821
