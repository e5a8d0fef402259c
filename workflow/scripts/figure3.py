import SimpleITK as sitk

from hanseg.figures.surface import figure3
from hanseg.images import read_image
from hanseg.rulelog import run


def main(snakemake):
    labels = read_image(snakemake.input.labels, "labels")
    array = sitk.GetArrayViewFromImage(labels)
    figure3(array, labels.GetSpacing(), snakemake.output.png, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
