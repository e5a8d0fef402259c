from pathlib import Path

from hanseg.phantom import PhantomOptions, generate
from hanseg.rulelog import run


def main(snakemake):
    params = snakemake.params
    options = PhantomOptions(
        cases=params.cases,
        seed=params.seed,
        ct_shape=tuple(params.shape),
        mr_shape=None if params.mr_shape is None else tuple(params.mr_shape),
        ct_fov_mm=params.fov_mm,
        ct_slice_mm=params.slice_mm,
        mr_spacing_mm=None if params.mr_spacing is None else tuple(params.mr_spacing),
    )
    out_dir = Path(snakemake.output.archive).parent
    generate(out_dir, options, as_zip=True)
    assert Path(snakemake.output.truth).is_dir()


run(snakemake, main)  # noqa: F821
