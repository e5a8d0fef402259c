from pathlib import Path

from hanseg.nnunet.predict import Predictor
from hanseg.rulelog import run


def main(snakemake):
    checkpoint = Path(snakemake.input.checkpoint)
    predictor = Predictor(
        checkpoint.parent.parent,
        [checkpoint.parent.name.removeprefix("fold_")],
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
    channels = {"CT": snakemake.input.ct, "MR": snakemake.input.mr}
    predictor.predict_case([channels[c] for c in snakemake.params.channels], snakemake.output.prediction)


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
