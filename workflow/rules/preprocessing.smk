# Per-case preprocessing on the CT's own grid.


rule clip_ct:
    input:
        record=case_record,
    output:
        ct=f"{RESULTS}/cases/{{case}}/ct_clipped.nrrd",
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
