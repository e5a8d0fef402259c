from hanseg.jobs.evaluation import evaluate
from hanseg.jobs.rule_runner import run


def main(snakemake):
    evaluate(
        snakemake.input.prediction,
        snakemake.output.table,
        # resampled: the label map or the folder of organ masks; original: the case's own masks (its record) and the
        # segment rule's label map on the CT's grid (as `hanseg segment` writes it)
        reference=snakemake.input.get("reference"),
        record=snakemake.input.get("record"),
        fov=snakemake.input.get("fov"),
        case=snakemake.wildcards.case,
        min_fov_fraction=snakemake.params.min_fov_fraction,
        percentile=snakemake.params.percentile,
        # The original grid has no label map of its own: the training rule is applied to the masks there.
        resolve_overlaps=snakemake.params.space == "original" and snakemake.params.reference == "labelmap",
    )


run(snakemake, main)  # noqa: F821
