from hanseg.jobs.reporting import montage
from hanseg.jobs.rule_runner import run


def main(snakemake):
    files = {name: list(snakemake.input[name]) for name in ("ct", "mr", "fov", "report")}
    montage(snakemake.params.cases, files, snakemake.output.png)


run(snakemake, main)  # noqa: F821
