from hanseg.jobs.nnunet import nnunet_dataset
from hanseg.jobs.rule_runner import run


def main(snakemake):
    sources = [name for name in ("ct", "mr", "fov", "labels") if name in snakemake.input.keys()]
    # Every source's input list holds one file per case, in the order of params.cases (a static DAG).
    files = {case: {s: snakemake.input[s][i] for s in sources} for i, case in enumerate(snakemake.params.cases)}
    nnunet_dataset(
        snakemake.input.split,
        files,
        snakemake.output.dataset_json,
        channels=snakemake.params.channels,
        method=snakemake.params.method,
        experiment=snakemake.wildcards.variant,
    )


run(snakemake, main)  # noqa: F821
