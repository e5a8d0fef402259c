from pathlib import Path

from hanseg.nnunet.train import train_fold
from hanseg.rulelog import run


def main(snakemake):
    options = snakemake.params.nnunet
    final = train_fold(
        Path(snakemake.input.plans).parents[2],  # <root>/<raw|preprocessed>/<dataset>/<file>
        options["dataset_id"],
        options["dataset_name"],
        options["configuration"],
        snakemake.wildcards.fold,
        device=options["device"],
        threads=snakemake.threads,
        epochs=options["epochs"],
        iterations_per_epoch=options["iterations_per_epoch"],
        val_iterations_per_epoch=options["val_iterations_per_epoch"],
        save_every=options["checkpoint_every"],
        final_validation=options["final_validation"],
    )
    if str(final) != str(snakemake.output.checkpoint) and not final.samefile(snakemake.output.checkpoint):
        raise RuntimeError(f"nnU-Net wrote {final}, the rule expects {snakemake.output.checkpoint}")


if __name__ == "__main__":  # nnU-Net's data loaders start worker processes
    run(snakemake, main)  # noqa: F821
