from hanseg.per_case import aggregate
from hanseg.reproduction import Bootstrap, Table2Files, write_tables
from hanseg.rulelog import run


def main(snakemake):
    per_case = aggregate(snakemake.input.tables, snakemake.output.per_case)
    options = Bootstrap(
        resamples=snakemake.params.resamples,
        seed=snakemake.params.seed,
        confidence=snakemake.params.confidence,
        min_cases=snakemake.params.min_cases,
    )
    write_tables(per_case, Table2Files.of(snakemake.output), options)


run(snakemake, main)  # noqa: F821
