from hanseg.jobs.nnunet import postprocess_prediction
from hanseg.jobs.rule_runner import run


def main(snakemake):
    postprocess_prediction(snakemake.input.prediction, snakemake.input.decision, snakemake.output.prediction)


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
