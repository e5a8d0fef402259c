from pathlib import Path

from hanseg.nnunet.dataset import write_raw_dataset
from hanseg.rulelog import run
from hanseg.splits import excluded_cases, nnunet_cases, read_split


def main(snakemake):
    table = read_split(snakemake.input.split)
    cases = snakemake.params.cases
    sources = [name for name in ("ct", "mr", "fov", "labels") if name in snakemake.input.keys()]
    # Every source's input list holds one file per case, in the order of params.cases.
    files = {case: {s: Path(snakemake.input[s][i]) for s in sources} for i, case in enumerate(cases)}
    # Every case's files are inputs (a static DAG); the split decides which go in (an excluded case does not).
    training_cases, test_cases = nnunet_cases(table, snakemake.params.method)
    training = {c: files[c] for c in training_cases}
    test = {c: files[c] for c in test_cases}
    description = (
        f"HaN-Seg via hanseg-workflow, split {snakemake.params.method}, experiment {snakemake.wildcards.variant}"
    )
    excluded = excluded_cases(table)
    if excluded:  # only then: a dataset without exclusions is written as before
        description += f"; excluded (registration QC fail): {', '.join(excluded)}"
    write_raw_dataset(
        Path(snakemake.output.dataset_json).parent,
        training,
        test,
        list(snakemake.params.channels),
        description=description,
    )


run(snakemake, main)  # noqa: F821
