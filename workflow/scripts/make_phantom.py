from pathlib import Path

from hanseg.phantom import PhantomOptions, generate
from hanseg.rulelog import run


def main(snakemake):
    options = PhantomOptions(
        cases=snakemake.params.cases, seed=snakemake.params.seed, ct_shape=tuple(snakemake.params.shape)
    )
    out_dir = Path(snakemake.output.archive).parent
    generate(out_dir, options, as_zip=True)
    assert Path(snakemake.output.truth).is_dir()


run(snakemake, main)  # noqa: F821
