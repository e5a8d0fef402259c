import SimpleITK as sitk

from hanseg.figures.images import figure4
from hanseg.rulelog import run


def main(snakemake):
    ct, reference, prediction = (
        sitk.ReadImage(str(p)) for p in (snakemake.input.ct, snakemake.input.reference, snakemake.input.prediction)
    )
    figure4(ct, reference, prediction, snakemake.output.png, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
