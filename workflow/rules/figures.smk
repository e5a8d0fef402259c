# The paper's Table 1 and Figures 1-4, the results figures and the run's provenance, all in the report.


localrules:
    table1,
    figure1,
    figure2,
    figure3,
    figure4,
    results_boxplots,
    forest_plot,
    comparison_figure,
    registration_montage,
    tre_per_case,
    provenance,


rule table1:
    input:
        cases=f"{RESULTS}/inventory/cases.tsv",
        split=SPLIT_TSV,
    output:
        csv=f"{TABLES}/table1.csv",
        md=report(
            f"{TABLES}/table1.md",
            caption="../report/table1.rst",
            category="Data",
            labels={"table": "Table 1"},
        ),
    log:
        f"{LOGS}/table1.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table1.py"


rule figure1:
    input:
        ct=CLIPPED_CT.format(case=FIGURE_CASE),
        mr=f"{REGISTRATION}/mr_in_ct.nrrd".format(case=FIGURE_CASE),
        fov=f"{REGISTRATION}/fov_mask.nrrd".format(case=FIGURE_CASE),
    output:
        png=report(
            f"{FIGURES}/figure1_ct_mr.png",
            caption="../report/figure1.rst",
            category="Figures",
            subcategory="Paper",
            labels={"figure": "Figure 1", "case": FIGURE_CASE},
        ),
    log:
        f"{LOGS}/figure1.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        case=FIGURE_CASE,
    script:
        "../scripts/figure1.py"


rule figure2:
    input:
        split=SPLIT_TSV,
    output:
        png=report(
            f"{FIGURES}/figure2_split.png",
            caption="../report/figure2.rst",
            category="Figures",
            subcategory="Paper",
            labels={"figure": "Figure 2", "case": "all"},
        ),
    log:
        f"{LOGS}/figure2.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        method=config["split"]["method"],
    script:
        "../scripts/figure2.py"


rule figure3:
    input:
        labels=f"{RESAMPLED}/labels.nrrd".format(case=FIGURE_CASE),
    output:
        png=report(
            f"{FIGURES}/figure3_organs_3d.png",
            caption="../report/figure3.rst",
            category="Figures",
            subcategory="Paper",
            labels={"figure": "Figure 3", "case": FIGURE_CASE},
        ),
    log:
        f"{LOGS}/figure3.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=20,
    params:
        case=FIGURE_CASE,
    script:
        "../scripts/figure3.py"


rule figure4:
    input:
        unpack(figure4_inputs),
    output:
        png=report(
            f"{FIGURES}/figure4_organs_overlay.png",
            caption="../report/figure4.rst",
            category="Figures",
            subcategory="Paper",
            labels={"figure": "Figure 4", "case": "a test case"},
        ),
    log:
        f"{LOGS}/figure4.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=10,
    params:
        case=figure4_case_param,
    script:
        "../scripts/figure4.py"


rule results_boxplots:
    input:
        per_case=f"{EVALUATION}/per_case.tsv".format(variant=PRIMARY),
    output:
        png=report(
            f"{FIGURES}/dc_hd95_boxplots.png",
            caption="../report/dc_hd95_boxplots.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "DC and HD95 per organ", "case": "test cases"},
        ),
    log:
        f"{LOGS}/results_boxplots.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/results_boxplots.py"


rule forest_plot:
    input:
        vs_paper=f"{EVALUATION}/table2_vs_paper.csv".format(variant=PRIMARY),
    output:
        png=report(
            f"{FIGURES}/table2_vs_paper_forest.png",
            caption="../report/forest_plot.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "our CIs vs the paper", "case": "test cases"},
        ),
    log:
        f"{LOGS}/forest_plot.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        confidence=config["evaluation"]["bootstrap"]["confidence"],
    script:
        "../scripts/forest_plot.py"


rule comparison_figure:
    input:
        csv=f"{RESULTS}/experiments/comparison_{{a}}_vs_{{b}}.csv",
    output:
        png=report(
            f"{FIGURES}/comparison_{{a}}_vs_{{b}}.png",
            caption="../report/comparison_figure.rst",
            category="Experiments",
            labels={"figure": "paired differences", "pair": "{a} vs {b}"},
        ),
    log:
        f"{LOGS}/comparison_figure/{{a}}_vs_{{b}}.log",
    wildcard_constraints:
        a="|".join(config["experiments"]),
        b="|".join(config["experiments"]),
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        confidence=config["evaluation"]["bootstrap"]["confidence"],
    script:
        "../scripts/comparison_figure.py"


rule registration_montage:
    input:
        ct=expand(CLIPPED_CT, case=CASES),
        mr=expand(f"{REGISTRATION}/mr_in_ct.nrrd", case=CASES),
        fov=expand(f"{REGISTRATION}/fov_mask.nrrd", case=CASES),
        report=expand(f"{REGISTRATION}/registration.json", case=CASES),
    output:
        png=report(
            f"{FIGURES}/registration_montage.png",
            caption="../report/registration_montage.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "registration montage", "case": "all"},
        ),
    log:
        f"{LOGS}/registration_montage.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=30,
    params:
        cases=CASES,
    script:
        "../scripts/registration_montage.py"


rule tre_per_case:
    input:
        reports=expand(f"{REGISTRATION}/registration.json", case=CASES),
    output:
        png=report(
            f"{FIGURES}/tre_per_case.png",
            caption="../report/tre_per_case.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "TRE per case", "case": "all"},
        ),
    log:
        f"{LOGS}/tre_per_case.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cases=CASES,
    script:
        "../scripts/tre_per_case.py"


rule provenance:
    input:
        split=SPLIT_TSV,
        checkpoints=training_checkpoints(),
        # They name the itk-elastix and SimpleITK that registered the images, and every case's QC verdict.
        registrations=registration_reports(),
        # nnU-Net's post-processing decision of each cross-validated model (none for a holdout split).
        decisions=decision_targets(),
    output:
        json=f"{RESULTS}/provenance.json",
        md=report(
            f"{RESULTS}/provenance.md",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"table": "provenance"},
        ),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # The rule's conda env has no Snakemake: record the one that runs the workflow.
        known_versions={"snakemake": SNAKEMAKE_VERSION},
        # The experiment of each checkpoint, in the order of input.checkpoints.
        experiments=training_experiments(),
    script:
        "../scripts/provenance.py"
