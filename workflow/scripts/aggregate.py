from hanseg.jobs.evaluation import aggregate
from hanseg.jobs.rule_runner import run
from hanseg.reporting.paper_comparison import Table2Files


def main(snakemake):
    # The split is an input under registration.on_fail: exclude only (see the rule): Table 2 names the excluded.
    aggregate(
        snakemake.input.tables,
        snakemake.output.per_case,
        Table2Files.of(snakemake.output),
        snakemake.params.bootstrap,
        split=snakemake.input.get("split"),
    )


run(snakemake, main)  # noqa: F821
