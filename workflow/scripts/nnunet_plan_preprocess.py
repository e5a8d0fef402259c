from hanseg.jobs.nnunet import nnunet_plan_preprocess
from hanseg.jobs.rule_runner import run


def main(snakemake):
    nnunet_plan_preprocess(
        snakemake.input.split, snakemake.output.plans, processes=snakemake.threads, **snakemake.params
    )


if __name__ == "__main__":  # nnU-Net starts worker processes
    run(snakemake, main)  # noqa: F821
