# Per-case preprocessing: the CT's HU clipped on its own grid (before registration), then the case's CT, registered
# MR, field of view and organ masks onto the target grid (preprocessing.target_spacing).


rule clip_ct:
    input:
        record=case_record,
    output:
        ct=CLIPPED_CT,
    log:
        f"{LOGS}/clip_ct/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/clip_ct/{{case}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=15,
    params:
        hu_range=config["preprocessing"]["hu_clip"],
    script:
        "../scripts/clip_ct.py"


rule resample:
    input:
        ct=CLIPPED_CT,
        mr=f"{REGISTRATION}/mr_in_ct.nrrd",
        fov=f"{REGISTRATION}/fov_mask.nrrd",
        record=case_record,
    output:
        ct=f"{RESAMPLED}/ct.nrrd",
        mr=f"{RESAMPLED}/mr.nrrd",
        fov=f"{RESAMPLED}/fov_mask.nrrd",
        labels=f"{RESAMPLED}/labels.nrrd",
        organs=directory(f"{RESAMPLED}/organs"),
        overlaps=f"{RESAMPLED}/overlaps.tsv",
        summary=f"{RESAMPLED}/resample.json",
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
