from hanseg.per_case import aggregate
from hanseg.reproduction import Bootstrap, Table2Files, write_tables
from hanseg.rulelog import run
from hanseg.splits import excluded_cases, read_split


def main(snakemake):
    per_case = aggregate(snakemake.input.tables, snakemake.output.per_case)
    options = Bootstrap(
        resamples=snakemake.params.resamples,
        seed=snakemake.params.seed,
        confidence=snakemake.params.confidence,
        min_cases=snakemake.params.min_cases,
    )
    # The split is an input under registration.on_fail: exclude only (see the rule): Table 2 names the excluded.
    excluded = excluded_cases(read_split(snakemake.input.split)) if "split" in snakemake.input.keys() else {}
    write_tables(per_case, Table2Files.of(snakemake.output), options, excluded)


run(snakemake, main)  # noqa: F821
