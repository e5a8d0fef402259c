from pathlib import Path

import pandas as pd

from hanseg.provenance import provenance, write_provenance
from hanseg.rulelog import run


def main(snakemake):
    split = pd.read_csv(snakemake.input.split, sep="\t")
    # nnU-Net training writes hanseg_training.json beside each fold's final checkpoint.
    records = [Path(p).with_name("hanseg_training.json") for p in snakemake.input.checkpoints]
    record = provenance(
        dict(snakemake.config),
        split,
        records,
        snakemake.params.known_versions,
        registration_reports=snakemake.input.registrations,
        experiments=snakemake.params.experiments,
    )
    write_provenance(record, snakemake.output.json, snakemake.output.md)


run(snakemake, main)  # noqa: F821
