from hanseg.per_case import aggregate
from hanseg.reproduction import Bootstrap, Table2Files, write_tables
from hanseg.rulelog import run


def main(snakemake):
    out = snakemake.output
    per_case = aggregate(snakemake.input.tables, out.per_case)
    options = Bootstrap(
        resamples=snakemake.params.resamples,
        seed=snakemake.params.seed,
        confidence=snakemake.params.confidence,
        min_cases=snakemake.params.min_cases,
    )
    outputs = Table2Files(
        table2_csv=out.table2_csv,
        table2_md=out.table2_md,
        table2_tex=out.table2_tex,
        surface_csv=out.surface_csv,
        surface_md=out.surface_md,
        vs_paper=out.vs_paper,
    )
    write_tables(per_case, outputs, options)


run(snakemake, main)  # noqa: F821
