from hanseg.jobs.rule_runner import run
from hanseg.nnunet.apply import segment_resampled


def main(snakemake):
    files = {source: snakemake.input[source] for source in ("ct", "mr", "fov") if source in snakemake.input.keys()}
    segment_resampled(
        snakemake.params.model,
        [snakemake.params.fold],  # under cv, the fold that did not see the case
        list(snakemake.params.channels),
        files,
        snakemake.input.original_ct,
        snakemake.output.labels,
        backmap=snakemake.params.backmap,
        device=snakemake.config["nnunet"]["device"],  # how the job runs, not what it computes: not a param
        threads=snakemake.threads,
        given=list(snakemake.params.given),
        decision=snakemake.input.get("decision"),
    )


if __name__ == "__main__":
    run(snakemake, main)  # noqa: F821
