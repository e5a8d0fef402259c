from hanseg.figures.results import registration_montage
from hanseg.rulelog import run


def main(snakemake):
    names = ("ct", "mr", "fov", "report")
    inputs = zip(*(snakemake.input[name] for name in names), strict=True)
    cases = [
        {"case": case, **dict(zip(names, paths, strict=True))}
        for case, paths in zip(snakemake.params.cases, inputs, strict=True)
    ]
    registration_montage(cases, snakemake.output.png)


run(snakemake, main)  # noqa: F821
