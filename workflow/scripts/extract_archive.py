from hanseg.archive import check_layout, extract_zip, write_manifest
from hanseg.rulelog import run


def main(snakemake):
    root = extract_zip(snakemake.input.archive, snakemake.params.target)
    # Not a param: strictness changes whether the job succeeds, never what it writes, so it triggers no rerun.
    cases = check_layout(root, strict=snakemake.config["dataset"]["strict"])
    write_manifest(snakemake.output.manifest, root, snakemake.params.source, cases)


run(snakemake, main)  # noqa: F821
