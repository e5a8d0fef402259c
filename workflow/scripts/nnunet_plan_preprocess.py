from pathlib import Path

from hanseg.nnunet.plan import plan_and_preprocess, write_derived_plans
from hanseg.rulelog import run
from hanseg.splits import read_split, write_nnunet_folds


def main(snakemake):
    params = snakemake.params
    nnunet_plans = plan_and_preprocess(
        params.root,
        params.dataset_id,
        params.dataset_name,
        params.configuration,
        processes=snakemake.threads,
        gpu_memory_target_gb=params.gpu_memory_target_gb,
    )
    if params.plans_overrides:
        write_derived_plans(nnunet_plans, params.configuration, params.plans_overrides, snakemake.output.plans)
    if params.method == "cv":
        # nnU-Net would draw its own random folds; ours are stratified and shared with the evaluation.
        write_nnunet_folds(read_split(snakemake.input.split), Path(snakemake.output.plans).parent / "splits_final.json")


if __name__ == "__main__":  # nnU-Net starts worker processes
    run(snakemake, main)  # noqa: F821
