from hanseg.nnunet.predict import Predictor
from hanseg.rulelog import run


def main(snakemake):
    predictor = Predictor(
        snakemake.params.model,
        [snakemake.params.fold],
        device=snakemake.config["nnunet"]["device"],  # how the job runs, not what it computes: not a param
        threads=snakemake.threads,
    )
    channels = {"CT": snakemake.input.ct, "MR": snakemake.input.mr}
    predictor.predict_case([channels[c] for c in snakemake.params.channels], snakemake.output.prediction)


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
