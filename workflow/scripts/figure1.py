from hanseg.figures.images import figure1
from hanseg.images import read_image
from hanseg.rulelog import run


def main(snakemake):
    ct, mr = read_image(snakemake.input.ct), read_image(snakemake.input.mr)
    fov = read_image(snakemake.input.fov, "mask")
    figure1(ct, mr, snakemake.output.png, fov_mask=fov, case=snakemake.params.case)


run(snakemake, main)  # noqa: F821
