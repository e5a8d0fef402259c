# MR onto CT (elastix: initial translation, rigid, B-spline), then everything onto the target grid.


rule register_mr:
    input:
        unpack(registration_inputs),
    output:
        mr=f"{RESULTS}/cases/{{case}}/registration/mr_in_ct.nrrd",
        fov=f"{RESULTS}/cases/{{case}}/registration/fov_mask.nrrd",
        initial=f"{RESULTS}/cases/{{case}}/registration/TransformParameters.init.txt",
        transforms=expand(
            f"{RESULTS}/cases/{{{{case}}}}/registration/TransformParameters.{{i}}.txt",
            i=range(len(config["registration"]["parameter_files"])),
        ),
        report=f"{RESULTS}/cases/{{case}}/registration/registration.json",
        qc=report(
            f"{RESULTS}/cases/{{case}}/registration/qc.png",
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


rule resample:
    input:
        ct=f"{RESULTS}/cases/{{case}}/ct_clipped.nrrd",
        mr=f"{RESULTS}/cases/{{case}}/registration/mr_in_ct.nrrd",
        fov=f"{RESULTS}/cases/{{case}}/registration/fov_mask.nrrd",
        record=case_record,
    output:
        ct=f"{RESULTS}/cases/{{case}}/resampled/ct.nrrd",
        mr=f"{RESULTS}/cases/{{case}}/resampled/mr.nrrd",
        fov=f"{RESULTS}/cases/{{case}}/resampled/fov_mask.nrrd",
        labels=f"{RESULTS}/cases/{{case}}/resampled/labels.nrrd",
        organs=directory(f"{RESULTS}/cases/{{case}}/resampled/organs"),
        overlaps=f"{RESULTS}/cases/{{case}}/resampled/overlaps.tsv",
        summary=f"{RESULTS}/cases/{{case}}/resampled/resample.json",
    log:
        f"{LOGS}/resample/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/resample/{{case}}.tsv"
    conda:
        "../envs/registration.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=30,
    params:
        spacing=config["preprocessing"]["target_spacing"],
        hu_range=config["preprocessing"]["hu_clip"],
        body_crop=config["preprocessing"]["body_crop"],
    script:
        "../scripts/resample.py"
