import json
import logging

from hanseg.inventory import write_tables
from hanseg.rulelog import run


def main(snakemake):
    records = [json.loads(open(path).read()) for path in snakemake.input.records]
    for record in records:
        for warning in record["warnings"]:
            logging.getLogger("hanseg.inventory").warning("%s", warning)
    write_tables(records, snakemake.output.cases, snakemake.output.organs)


run(snakemake, main)  # noqa: F821
