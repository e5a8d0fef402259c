from pathlib import Path

from hanseg import layout
from hanseg.archive import read_manifest
from hanseg.inventory import inspect_case, write_case_record
from hanseg.metadata import read_organ_availability, read_patients
from hanseg.rulelog import run


def main(snakemake):
    root = Path(read_manifest(snakemake.input.manifest)["data_root"])
    set_folder = layout.set_dir(root)
    availability = read_organ_availability(set_folder / layout.OAR_CSV)
    patients = read_patients(set_folder / layout.PATIENT_CSV)
    record = inspect_case(root, snakemake.wildcards.case, availability, patients, strict=snakemake.params.strict)
    write_case_record(record, snakemake.output.record)


run(snakemake, main)  # noqa: F821
