from hanseg.jobs.nnunet import nnunet_postprocessing
from hanseg.jobs.rule_runner import run


def main(snakemake):
    nnunet_postprocessing(
        list(snakemake.input.predictions),
        list(snakemake.input.references),
        snakemake.output.decision,
        processes=snakemake.threads,
    )


if __name__ == "__main__":  # nnU-Net starts worker processes
    run(snakemake, main)  # noqa: F821
