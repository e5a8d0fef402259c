from hanseg.comparison import compare_files
from hanseg.reproduction import Bootstrap
from hanseg.rulelog import run


def main(snakemake):
    params = snakemake.params
    compare_files(
        snakemake.input.a,
        snakemake.input.b,
        snakemake.output.csv,
        snakemake.output.md,
        names=(snakemake.wildcards.a, snakemake.wildcards.b),
        descriptions=(params.description_a, params.description_b),
        options=Bootstrap(
            resamples=params.resamples, seed=params.seed, confidence=params.confidence, min_cases=params.min_cases
        ),
    )


run(snakemake, main)  # noqa: F821
