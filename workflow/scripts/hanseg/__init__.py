"""HaN-Seg workflow: the logic behind the Snakemake rules and the `hanseg` command."""

#: The workflow's version (CHANGELOG.md); the provenance of every run records it.
__version__ = "0.5.0"
