from pathlib import Path

from hanseg.archive import read_manifest
from hanseg.inventory import dataset_metadata, inspect_case, log_warnings, write_case_record
from hanseg.rulelog import run


def main(snakemake):
    root = Path(read_manifest(snakemake.input.manifest)["data_root"])
    availability, patients = dataset_metadata(root)
    record = inspect_case(root, snakemake.wildcards.case, availability, patients, strict=snakemake.params.strict)
    log_warnings([record])
    write_case_record(record, snakemake.output.record)


run(snakemake, main)  # noqa: F821
