import json
import logging
from pathlib import Path

from hanseg.images import clip_ct_file
from hanseg.rulelog import run


def main(snakemake):
    record = json.loads(Path(snakemake.input.record).read_text())
    lower, upper = snakemake.params.hu_range
    counts = clip_ct_file(Path(record["folder"]) / record["ct_file"], snakemake.output.ct, lower, upper)
    logging.getLogger("hanseg.clip_ct").info("%s", counts)


run(snakemake, main)  # noqa: F821
