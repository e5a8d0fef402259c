from pathlib import Path

from hanseg.nnunet.dataset import write_raw_dataset
from hanseg.rulelog import run
from hanseg.splits import read_split


def main(snakemake):
    table = read_split(snakemake.input.split)
    files = {
        Path(ct).parent.parent.name: {"CT": Path(ct), "MR": Path(mr), "labels": Path(labels)}
        for ct, mr, labels in zip(snakemake.input.ct, snakemake.input.mr, snakemake.input.labels, strict=True)
    }
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
        description=f"HaN-Seg via hanseg-workflow, split {snakemake.params.method}",
    )


run(snakemake, main)  # noqa: F821
