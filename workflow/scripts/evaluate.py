import json
from pathlib import Path

from hanseg.evaluation import evaluate_files, write_case_table
from hanseg.rulelog import run


def main(snakemake):
    options = snakemake.params.evaluation
    case = snakemake.wildcards.case
    if options["space"] == "resampled":
        reference = snakemake.input.reference
    else:  # the original masks on the CT's own grid
        reference = json.loads(Path(snakemake.input.record).read_text())["folder"]
    rows = evaluate_files(
        reference,
        snakemake.input.prediction,
        snakemake.input.get("fov"),
        case=case,
        min_fov_fraction=options["min_volume_fraction"],
        percentile=options["hd_percentile"],
        resample_prediction=options["space"] == "original",
    )
    write_case_table(rows, snakemake.output.table)


run(snakemake, main)  # noqa: F821
