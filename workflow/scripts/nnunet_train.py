from hanseg.jobs.rule_runner import run
from hanseg.nnunet.train import train_fold


def main(snakemake):
    params = snakemake.params
    runtime = snakemake.config["nnunet"]  # how the job runs, not what it computes: not a param (see the rule)
    train_fold(
        params.root,
        params.dataset_id,
        params.dataset_name,
        params.configuration,
        snakemake.wildcards.fold,
        plans_file=snakemake.input.plans,
        trainer=params.trainer,
        expected_checkpoint=snakemake.output.checkpoint,
        device=runtime["device"],
        threads=snakemake.threads,
        epochs=params.epochs,
        iterations_per_epoch=params.iterations_per_epoch,
        val_iterations_per_epoch=params.val_iterations_per_epoch,
        save_every=runtime["checkpoint_every"],
        final_validation=params.final_validation,
        model_record=params.model_record,
    )


if __name__ == "__main__":  # nnU-Net's data loaders start worker processes
    run(snakemake, main)  # noqa: F821
