from hanseg.nnunet.predict import Predictor
from hanseg.rulelog import run


def main(snakemake):
    predictor = Predictor(
        snakemake.params.model,
        [snakemake.params.fold],
        device=snakemake.config["nnunet"]["device"],  # how the job runs, not what it computes: not a param
        threads=snakemake.threads,
    )
    files = {source: snakemake.input[source] for source in ("ct", "mr", "fov") if source in snakemake.input.keys()}
    predictor.predict_files(list(snakemake.params.channels), files, snakemake.output.prediction)


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
