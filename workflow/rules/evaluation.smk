# The paper's evaluation: Dice and HD95 (and the authors' surface Dice and ASSD) per organ inside the MR's field
# of view, then Table 2, its comparison with the paper, and the Dice ceiling the overlap rule leaves.


localrules:
    overlap_ceiling,
    laterality_summary,


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        table=f"{RESULTS}/evaluation/cases/{{case}}.tsv",
    log:
        "logs/evaluate/{case}.log",
    benchmark:
        "benchmarks/evaluate/{case}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=30,
    params:
        space=config["evaluation"]["space"],
        reference=config["evaluation"]["reference"],
        min_fov_fraction=config["evaluation"]["min_volume_fraction"],
        percentile=config["evaluation"]["hd_percentile"],
    script:
        "../scripts/evaluate.py"


rule aggregate:
    input:
        tables=evaluation_targets,
    output:
        per_case=report(
            f"{RESULTS}/evaluation/per_case.tsv",
            caption="../report/per_case.rst",
            category="Evaluation",
            labels={"table": "per case"},
        ),
        table2_csv=f"{RESULTS}/evaluation/table2.csv",
        table2_md=report(
            f"{RESULTS}/evaluation/table2.md",
            caption="../report/table2.rst",
            category="Evaluation",
            labels={"table": "Table 2"},
        ),
        table2_tex=f"{RESULTS}/evaluation/table2.tex",
        vs_paper=report(
            f"{RESULTS}/evaluation/table2_vs_paper.csv",
            caption="../report/table2_vs_paper.rst",
            category="Evaluation",
            labels={"table": "Table 2 vs paper"},
        ),
        surface_csv=f"{RESULTS}/evaluation/table2_surface.csv",
        surface_md=report(
            f"{RESULTS}/evaluation/table2_surface.md",
            caption="../report/table2_surface.rst",
            category="Evaluation",
            labels={"table": "surface Dice and ASSD"},
        ),
    log:
        "logs/aggregate.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        resamples=config["evaluation"]["bootstrap"]["resamples"],
        seed=config["evaluation"]["bootstrap"]["seed"],
        confidence=config["evaluation"]["bootstrap"]["confidence"],
        min_cases=config["evaluation"]["bootstrap"]["min_cases"],
    script:
        "../scripts/aggregate.py"


rule overlap_ceiling:
    input:
        unpack(overlap_records),
    output:
        csv=f"{RESULTS}/evaluation/overlap_ceiling.csv",
        md=report(
            f"{RESULTS}/evaluation/overlap_ceiling.md",
            caption="../report/overlap_ceiling.rst",
            category="Evaluation",
            labels={"table": "overlap rule and Dice ceiling"},
        ),
    log:
        "logs/overlap_ceiling.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/overlap_ceiling.py"


rule laterality:
    # Is every predicted left organ on the patient's left of its right partner? Catches a mirrored prediction that
    # Dice alone can hide (symmetric pairs).
    input:
        prediction=f"{RESULTS}/predictions/{{case}}.nrrd",
        reference=f"{RESULTS}/cases/{{case}}/resampled/labels.nrrd",
    output:
        table=f"{RESULTS}/evaluation/laterality/{{case}}.tsv",
    log:
        "logs/laterality/{case}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=10,
    script:
        "../scripts/laterality.py"


rule laterality_summary:
    input:
        tables=laterality_targets,
    output:
        table=f"{RESULTS}/evaluation/laterality.tsv",
        summary=report(
            f"{RESULTS}/evaluation/laterality.md",
            caption="../report/laterality.rst",
            category="Evaluation",
            labels={"table": "left/right check"},
        ),
    log:
        "logs/laterality_summary.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/laterality_summary.py"
