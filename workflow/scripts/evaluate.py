import json
from pathlib import Path

from hanseg.evaluation_files import evaluate_files
from hanseg.per_case import write_case_table
from hanseg.rulelog import run


def main(snakemake):
    # resampled: the label map or the folder of organ masks; original: the original masks on the CT's own grid, and
    # the prediction is the segment rule's label map on that grid (hanseg.backmap, as `hanseg segment`)
    reference = snakemake.input.get("reference")
    if reference is None:
        reference = json.loads(Path(snakemake.input.record).read_text())["folder"]
    rows = evaluate_files(
        reference,
        snakemake.input.prediction,
        snakemake.input.get("fov"),
        case=snakemake.wildcards.case,
        min_fov_fraction=snakemake.params.min_fov_fraction,
        percentile=snakemake.params.percentile,
        # The original grid has no label map of its own: the training rule is applied to the masks there.
        resolve_overlaps=snakemake.params.space == "original" and snakemake.params.reference == "labelmap",
    )
    write_case_table(rows, snakemake.output.table)


run(snakemake, main)  # noqa: F821
