from hanseg.figures.images import figure4
from hanseg.images import read_image
from hanseg.rulelog import run


def main(snakemake):
    ct = read_image(snakemake.input.ct)
    reference = read_image(snakemake.input.reference, "labels")
    prediction = read_image(snakemake.input.prediction, "labels")
    figure4(ct, reference, prediction, snakemake.output.png, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
