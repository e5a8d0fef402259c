import json
from pathlib import Path

from hanseg.images import read_image
from hanseg.resampling import resample_case
from hanseg.rulelog import run


def main(snakemake):
    record = json.loads(Path(snakemake.input.record).read_text())
    folder = Path(record["folder"])
    organs = {row["organ"]: folder / row["file"] for row in record["organs"] if row["file_present"] and row["voxels"]}
    resample_case(
        read_image(snakemake.input.ct),
        read_image(snakemake.input.mr),
        read_image(snakemake.input.fov, "mask"),
        organs,
        Path(snakemake.output.labels).parent,
        spacing_xyz=tuple(snakemake.params.spacing),
        hu_range=tuple(snakemake.params.hu_range),
        body_crop=snakemake.params.body_crop,
        case=snakemake.wildcards.case,
    )


run(snakemake, main)  # noqa: F821
