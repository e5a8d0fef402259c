from hanseg.archive import ArchiveError, check_layout, write_manifest
from hanseg.layout import find_data_root
from hanseg.rulelog import run


def main(snakemake):
    # The user's folder is read in place: 5 GB are not copied, and nothing is ever written into it.
    root = find_data_root(snakemake.params.folder)
    if root is None:
        raise ArchiveError(f"{snakemake.params.folder}: no set_1/ folder: not a HaN-Seg dataset")
    # Not a param: strictness changes whether the job succeeds, never what it writes, so it triggers no rerun.
    cases = check_layout(root, strict=snakemake.config["dataset"]["strict"])
    write_manifest(snakemake.output.manifest, root, "local", cases)


run(snakemake, main)  # noqa: F821
