import json
import logging

from hanseg.inventory import write_tables
from hanseg.rulelog import run


def main(snakemake):
    records = [json.loads(open(path).read()) for path in snakemake.input.records]
    log = logging.getLogger("hanseg.inventory")
    for record in records:
        for warning in record["warnings"]:
            log.warning("%s", warning)
    # Problems of a CSV file as a whole are in every case's record: say them once.
    for warning in dict.fromkeys(w for record in records for w in record.get("csv_warnings", [])):
        log.warning("%s", warning)
    write_tables(records, snakemake.output.cases, snakemake.output.organs)


run(snakemake, main)  # noqa: F821
