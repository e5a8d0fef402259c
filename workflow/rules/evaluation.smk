# The paper's evaluation: Dice and HD95 (and the authors' surface Dice and ASSD) per organ inside the MR's field
# of view, then Table 2, its comparison with the paper, and the Dice ceiling the overlap rule leaves.


localrules:
    overlap_ceiling,
    laterality_summary,
    compare_experiments,


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        table=f"{EVALUATION}/cases/{{case}}.tsv",
    log:
        f"{LOGS}/evaluate/{{variant}}/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{variant}}/{{case}}.tsv"
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
        unpack(aggregate_inputs),
    output:
        per_case=report(
            f"{EVALUATION}/per_case.tsv",
            caption="../report/per_case.rst",
            category="Evaluation",
            labels={"table": "per case", "experiment": "{variant}"},
        ),
        table2_csv=f"{EVALUATION}/table2.csv",
        table2_md=report(
            f"{EVALUATION}/table2.md",
            caption="../report/table2.rst",
            category="Evaluation",
            labels={"table": "Table 2", "experiment": "{variant}"},
        ),
        table2_tex=f"{EVALUATION}/table2.tex",
        vs_paper=report(
            f"{EVALUATION}/table2_vs_paper.csv",
            caption="../report/table2_vs_paper.rst",
            category="Evaluation",
            labels={"table": "Table 2 vs paper", "experiment": "{variant}"},
        ),
        surface_csv=f"{EVALUATION}/table2_surface.csv",
        surface_md=report(
            f"{EVALUATION}/table2_surface.md",
            caption="../report/table2_surface.rst",
            category="Evaluation",
            labels={"table": "surface Dice and ASSD", "experiment": "{variant}"},
        ),
    log:
        f"{LOGS}/aggregate/{{variant}}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        bootstrap=canonical(config["evaluation"]["bootstrap"]),
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
        f"{LOGS}/overlap_ceiling.log",
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
        prediction=lambda wildcards: prediction_of(wildcards.variant, wildcards.case),
        reference=f"{RESAMPLED}/labels.nrrd",
    output:
        table=f"{EVALUATION}/laterality/{{case}}.tsv",
    log:
        f"{LOGS}/laterality/{{variant}}/{{case}}.log",
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
        table=f"{EVALUATION}/laterality.tsv",
        summary=report(
            f"{EVALUATION}/laterality.md",
            caption="../report/laterality.rst",
            category="Evaluation",
            labels={"table": "left/right check", "experiment": "{variant}"},
        ),
    log:
        f"{LOGS}/laterality_summary/{{variant}}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/laterality_summary.py"


rule compare_experiments:
    # Paired over the test cases both experiments evaluated: per organ, mean difference (a minus b) with a
    # bootstrap CI, Wilcoxon signed-rank p-values Holm-corrected over organs, and wins per experiment.
    input:
        a=f"{RESULTS}/experiments/{{a}}/evaluation/per_case.tsv",
        b=f"{RESULTS}/experiments/{{b}}/evaluation/per_case.tsv",
    output:
        csv=f"{RESULTS}/experiments/comparison_{{a}}_vs_{{b}}.csv",
        md=report(
            f"{RESULTS}/experiments/comparison_{{a}}_vs_{{b}}.md",
            caption="../report/comparison.rst",
            category="Experiments",
            labels={"table": "comparison", "pair": "{a} vs {b}"},
        ),
    log:
        f"{LOGS}/compare_experiments/{{a}}_vs_{{b}}.log",
    wildcard_constraints:
        a="|".join(config["experiments"]),
        b="|".join(config["experiments"]),
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        bootstrap=canonical(config["evaluation"]["bootstrap"]),
        description_a=lambda wildcards: EXPERIMENTS[wildcards.a].description,
        description_b=lambda wildcards: EXPERIMENTS[wildcards.b].description,
    script:
        "../scripts/compare_experiments.py"
