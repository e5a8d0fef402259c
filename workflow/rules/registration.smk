# MR onto CT (elastix: initial translation, rigid; the B-spline stage optional), its QC picture and verdict
# (registration.on_fail).


rule register_mr:
    input:
        unpack(registration_inputs),
    output:
        mr=f"{REGISTRATION}/mr_in_ct.nrrd",
        fov=f"{REGISTRATION}/fov_mask.nrrd",
        initial=f"{REGISTRATION}/TransformParameters.init.txt",
        transforms=expand(
            f"{REGISTRATION}/TransformParameters.{{i}}.txt",
            i=range(len(config["registration"]["parameter_files"])),
            allow_missing=True,
        ),
        report=f"{REGISTRATION}/registration.json",
        qc=report(
            f"{REGISTRATION}/qc.png",
            caption="../report/registration_qc.rst",
            category="Registration",
            subcategory="QC per case",
            labels={"case": "{case}"},
        ),
    log:
        f"{LOGS}/register_mr/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/register_mr/{{case}}.tsv"
    conda:
        "../envs/registration.yaml"
    threads: 4
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=60,
    params:
        initialisation=config["registration"]["initialisation"],
        qc=canonical(config["registration"]["qc"]),
    script:
        "../scripts/register_mr.py"
