from hanseg.jobs.nnunet import nnunet_predict
from hanseg.jobs.rule_runner import run


def main(snakemake):
    nnunet_predict(
        {source: snakemake.input[source] for source in ("ct", "mr", "fov") if source in snakemake.input.keys()},
        snakemake.output.prediction,
        model=snakemake.params.model,
        fold=snakemake.params.fold,
        channels=snakemake.params.channels,
        given=snakemake.params.given,
        device=snakemake.config["nnunet"]["device"],  # how the job runs, not what it computes: not a param
        threads=snakemake.threads,
    )


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
