from pathlib import Path

from hanseg.nnunet.plan import plan_and_preprocess
from hanseg.rulelog import run
from hanseg.splits import read_split, write_nnunet_folds


def main(snakemake):
    options = snakemake.params.nnunet
    plans = plan_and_preprocess(
        Path(snakemake.input.dataset_json).parents[2],  # <root>/<raw|preprocessed>/<dataset>/<file>
        options["dataset_id"],
        options["dataset_name"],
        options["configuration"],
        processes=snakemake.threads,
        gpu_memory_target_gb=options["gpu_memory_target_gb"],
    )
    if snakemake.params.method == "cv":
        # nnU-Net would draw its own random folds; ours are stratified and shared with the evaluation.
        write_nnunet_folds(read_split(snakemake.input.split), Path(plans).parent / "splits_final.json")


if __name__ == "__main__":  # nnU-Net starts worker processes
    run(snakemake, main)  # noqa: F821
