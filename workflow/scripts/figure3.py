import SimpleITK as sitk

from hanseg.figures.surface import figure3
from hanseg.rulelog import run


def main(snakemake):
    labels = sitk.ReadImage(str(snakemake.input.labels))
    array = sitk.GetArrayViewFromImage(labels)
    figure3(array, labels.GetSpacing(), snakemake.output.png, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
