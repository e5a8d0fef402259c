"""HaN-Seg workflow: the logic behind the Snakemake rules and the `hanseg` command."""

__version__ = "0.1.0"
