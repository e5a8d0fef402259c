import SimpleITK as sitk

from hanseg.figures.images import figure1
from hanseg.rulelog import run


def main(snakemake):
    ct, mr, fov = (sitk.ReadImage(str(p)) for p in (snakemake.input.ct, snakemake.input.mr, snakemake.input.fov))
    figure1(ct, mr, snakemake.output.png, fov_mask=fov, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
