from pathlib import Path

from hanseg.nnunet.dataset import write_raw_dataset
from hanseg.rulelog import run
from hanseg.splits import read_split


def main(snakemake):
    table = read_split(snakemake.input.split)
    cases = snakemake.params.cases
    sources = [name for name in ("ct", "mr", "fov", "labels") if name in snakemake.input.keys()]
    # Every source's input list holds one file per case, in the order of params.cases.
    files = {case: {s: Path(snakemake.input[s][i]) for s in sources} for i, case in enumerate(cases)}
    if snakemake.params.method == "cv":
        training, test = files, {}  # every case trains the folds that do not hold it out
    else:
        training = {c: files[c] for c in table.loc[table["role"] == "train", "case"]}
        test = {c: files[c] for c in table.loc[table["role"] == "test", "case"]}
    write_raw_dataset(
        Path(snakemake.output.dataset_json).parent,
        training,
        test,
        list(snakemake.params.channels),
        description=(
            f"HaN-Seg via hanseg-workflow, split {snakemake.params.method}, experiment {snakemake.wildcards.variant}"
        ),
    )


run(snakemake, main)  # noqa: F821
