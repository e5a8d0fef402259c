from hanseg.jobs.nnunet import nnunet_plan
from hanseg.jobs.rule_runner import run


def main(snakemake):
    params = snakemake.params
    nnunet_plan(
        snakemake.output.plans,
        root=params.root,
        dataset_id=params.dataset_id,
        dataset_name=params.dataset_name,
        configuration=params.configuration,
        **params.plans,
    )


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
