# nnU-Net v2: raw dataset -> planning and preprocessing -> (other plans) -> training per fold (GPU, resumable) ->
# prediction per case -> (cross-validation) post-processing decision and its application. One nnU-Net dataset per set
# of channels, under the first experiment with them; every model of that dataset beside the others in its results
# folder, as nnU-Net keeps them (hanseg.nnunet.experiments).


rule nnunet_dataset:
    input:
        unpack(nnunet_dataset_inputs),
    output:
        dataset_json=f"{NNUNET_RAW}/dataset.json",
    log:
        f"{LOGS}/nnunet_dataset/{{variant}}.log",
    conda:
        "../envs/nnunet.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cases=CASES,
        channels=channels_of,
        method=config["split"]["method"],
    script:
        "../scripts/nnunet_dataset.py"


rule nnunet_plan_preprocess:
    input:
        dataset_json=f"{NNUNET_RAW}/dataset.json",
        split=SPLIT_TSV,
    output:
        # Files, not directory(): Snakemake's marker file inside the folder would break nnU-Net's loader. With
        # plans_overrides, nnU-Net's own nnUNetPlans.json is written beside the declared plans (an nnU-Net internal).
        plans=f"{NNUNET_PREPROCESSED}/{NNUNET_PLANS}.json",
        fingerprint=f"{NNUNET_PREPROCESSED}/dataset_fingerprint.json",
    log:
        f"{LOGS}/nnunet_plan_preprocess/{{variant}}.log",
    benchmark:
        f"{BENCHMARKS}/nnunet_plan_preprocess/{{variant}}.tsv"
    conda:
        "../envs/nnunet.yaml"
    threads: 8
    resources:
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=240,
    params:
        root=nnunet_root_of_output,
        dataset_id=NNUNET["dataset_id"],
        dataset_name=NNUNET["dataset_name"],
        configuration=NNUNET["configuration"],
        plans_overrides=canonical(NNUNET["plans_overrides"]),
        gpu_memory_target_gb=NNUNET["gpu_memory_target_gb"],
        method=config["split"]["method"],
    script:
        "../scripts/nnunet_plan_preprocess.py"


rule nnunet_plan:
    # Plans beside the default ones, planning only: a residual-encoder preset, or a network sized down by an
    # experiment's plans_overrides. The presets preprocess as the default plans do: their training reads the
    # preprocessed data of nnunet_plan_preprocess (nothing is preprocessed twice).
    input:
        unpack(plan_inputs),
    output:
        plans=f"{NNUNET_PREPROCESSED}/{{plans}}.json",
    log:
        f"{LOGS}/nnunet_plan/{{variant}}/{{plans}}.log",
    wildcard_constraints:
        plans="|".join(sorted({plans for _, plans in plans_specs()})) or "(?!)",
    conda:
        "../envs/nnunet.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        root=lambda wildcards, output: str(Path(output.plans).parents[2]),
        dataset_id=NNUNET["dataset_id"],
        dataset_name=NNUNET["dataset_name"],
        configuration=NNUNET["configuration"],
        plans=plan_params,
    script:
        "../scripts/nnunet_plan.py"


rule nnunet_train:
    # Inputs and params stay minimal so that edits elsewhere (figures, evaluation) never retrain a model. How a job
    # runs (nnunet.device, nnunet.checkpoint_every) is read from the config at run time: changing it redoes nothing.
    input:
        plans=training_plans,
    output:
        # Only the final checkpoint is declared: Snakemake deletes declared outputs before a job starts, and the
        # retry after a time limit must find nnU-Net's checkpoint_latest.pth to resume from.
        checkpoint=f"{NNUNET_MODEL}/fold_{{fold}}/checkpoint_final.pth",
    log:
        f"{LOGS}/nnunet_train/{{variant}}/{{model}}/fold_{{fold}}.log",
    benchmark:
        f"{BENCHMARKS}/nnunet_train/{{variant}}/{{model}}/fold_{{fold}}.tsv"
    conda:
        "../envs/nnunet.yaml"
    threads: 8
    resources:
        **train_resources(),
    params:
        root=nnunet_root_of,
        dataset_id=NNUNET["dataset_id"],
        dataset_name=NNUNET["dataset_name"],
        configuration=NNUNET["configuration"],
        trainer=lambda wildcards: trained_experiment(wildcards).trainer,
        epochs=NNUNET["epochs"],
        iterations_per_epoch=NNUNET["iterations_per_epoch"],
        val_iterations_per_epoch=NNUNET["val_iterations_per_epoch"],
        final_validation=NNUNET["final_validation"],
        # How the cases were prepared, recorded in the model folder for `hanseg segment` (new cases).
        model_record=model_record,
    script:
        "../scripts/nnunet_train.py"


rule nnunet_predict:
    input:
        unpack(prediction_inputs),
    output:
        prediction=PREDICTION,
    log:
        f"{LOGS}/nnunet_predict/{{variant}}/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/nnunet_predict/{{variant}}/{{case}}.tsv"
    conda:
        "../envs/nnunet.yaml"
    threads: 4
    resources:
        mem_mb=lambda wildcards, attempt: 24000 * attempt,
        runtime=60,
    params:
        model=lambda wildcards, input: str(Path(input.checkpoint).parents[1]),
        fold=lambda wildcards: fold_of(wildcards.case),
        channels=channels_of,
        # The channels it is given (the others blank: a dropout model scored on CT alone); equal to `channels`
        # otherwise, which leaves the job's recorded params as they were.
        given=given_channels_of,
    script:
        "../scripts/nnunet_predict.py"


rule nnunet_postprocessing:
    # nnU-Net's decision, from the cross-validation: keep each organ's largest connected component only where that
    # improves the folds' predictions (nnunetv2.postprocessing.determine_postprocessing), recorded in the model folder.
    input:
        unpack(decision_inputs),
    output:
        decision=f"{NNUNET_MODEL}/postprocessing.json",
    log:
        f"{LOGS}/nnunet_postprocessing/{{variant}}/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/nnunet_postprocessing/{{variant}}/{{model}}.tsv"
    conda:
        "../envs/nnunet.yaml"
    threads: 4
    resources:
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=120,
    script:
        "../scripts/nnunet_postprocessing.py"


rule postprocess_prediction:
    input:
        unpack(postprocess_inputs),
    output:
        prediction=POSTPROCESSED,
    log:
        f"{LOGS}/postprocess_prediction/{{variant}}/{{case}}.log",
    conda:
        "../envs/nnunet.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=20,
    script:
        "../scripts/postprocess_prediction.py"
