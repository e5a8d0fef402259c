import json
from pathlib import Path

from hanseg.jobs.rule_runner import run
from hanseg.preprocessing.resampling import ResampledFiles, resample_case_files


def main(snakemake):
    resample_case_files(
        snakemake.input.ct,
        snakemake.input.mr,
        snakemake.input.fov,
        json.loads(Path(snakemake.input.record).read_text())["folder"],  # the case's organ masks
        ResampledFiles.of(snakemake.output),
        spacing_xyz=snakemake.params.spacing,
        hu_range=snakemake.params.hu_range,
        body_crop=snakemake.params.body_crop,
        case=snakemake.wildcards.case,
    )


run(snakemake, main)  # noqa: F821
