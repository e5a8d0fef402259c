# The paper's evaluation: Dice and HD95 per organ inside the MR's field of view, then Table 2.


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
        evaluation=config["evaluation"],
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
    log:
        "logs/aggregate.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/aggregate.py"
