import json
import shutil
from pathlib import Path

from hanseg.images import read_image
from hanseg.landmarks import read_landmarks
from hanseg.registration import register, write_outputs
from hanseg.registration_gate import apply_on_fail
from hanseg.rulelog import run


def main(snakemake):
    case = snakemake.wildcards.case
    record = json.loads(Path(snakemake.input.record).read_text())
    ct = read_image(snakemake.input.ct)
    mr = read_image(Path(record["folder"]) / record["mr_file"])
    landmarks = {}
    if "landmarks" in snakemake.input.keys():
        folder = Path(snakemake.input.landmarks) / case
        if (folder / "landmarks_ct.csv").is_file() and (folder / "landmarks_mr.csv").is_file():
            landmarks = {
                "landmarks_ct": read_landmarks(folder / "landmarks_ct.csv"),
                "landmarks_mr": read_landmarks(folder / "landmarks_mr.csv"),
            }
    out_dir = Path(snakemake.output.mr).parent
    result = register(
        ct,
        mr,
        list(snakemake.input.parameter_files),
        out_dir,
        threads=snakemake.threads,
        initialisation=snakemake.params.initialisation,
        qc_thresholds=dict(snakemake.params.qc),
        case=case,
        **landmarks,
    )
    write_outputs(result, out_dir, snakemake.output.qc, ct, title=case)
    # Read at run time, not a param: switching to `exclude` then reruns only the registrations that failed (a failed
    # job leaves no outputs), not every case.
    on_fail = snakemake.config["registration"]["on_fail"]
    qc_png = snakemake.output.qc
    if result.report["qc"]["status"] == "fail" and on_fail == "error":
        # Snakemake removes a failed job's outputs; the QC picture the message points to is kept beside the log.
        qc_png = Path(str(snakemake.log[0])).with_suffix(".qc.png")
        shutil.copyfile(snakemake.output.qc, qc_png)
    apply_on_fail(result.report, case, qc_png, on_fail)


run(snakemake, main)  # noqa: F821
