from hanseg.atomic import write_text_atomic
from hanseg.overlap_ceiling import ceiling_markdown, ceiling_table, read_case_overlaps
from hanseg.rulelog import run


def main(snakemake):
    cases = [
        read_case_overlaps(overlaps, summary)
        for overlaps, summary in zip(snakemake.input.overlaps, snakemake.input.summaries, strict=True)
    ]
    table = ceiling_table(cases)
    write_text_atomic(snakemake.output.csv, table.to_csv(index=False, na_rep="nan", lineterminator="\n"))
    write_text_atomic(snakemake.output.md, ceiling_markdown(table))


run(snakemake, main)  # noqa: F821
