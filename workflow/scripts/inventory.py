import json
from pathlib import Path

from hanseg.inventory import log_warnings, write_tables
from hanseg.rulelog import run


def main(snakemake):
    records = [json.loads(Path(path).read_text()) for path in snakemake.input.records]
    log_warnings(records)  # every case's warnings in one log
    write_tables(records, snakemake.output.cases, snakemake.output.organs)


run(snakemake, main)  # noqa: F821
