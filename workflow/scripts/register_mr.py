from hanseg.jobs.registration import RegistrationFiles, RegistrationInputs, register_mr
from hanseg.jobs.rule_runner import run


def main(snakemake):
    case = snakemake.wildcards.case
    register_mr(
        RegistrationInputs.of(snakemake.input, case),
        RegistrationFiles.of(snakemake.output),
        initialisation=snakemake.params.initialisation,
        qc_thresholds=dict(snakemake.params.qc),
        # Read at run time, not a param: switching to `exclude` then reruns only the registrations that failed (a
        # failed job leaves no outputs), not every case.
        on_fail=snakemake.config["registration"]["on_fail"],
        threads=snakemake.threads,
        case=case,
        log_file=snakemake.log[0],
    )


run(snakemake, main)  # noqa: F821
