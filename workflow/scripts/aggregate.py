from pathlib import Path

from hanseg.rulelog import run
from hanseg.tables import aggregate, table2, write_table2


def main(snakemake):
    per_case = aggregate(snakemake.input.tables, snakemake.output.per_case)
    write_table2(table2(per_case), Path(snakemake.output.table2_csv).parent)


run(snakemake, main)  # noqa: F821
