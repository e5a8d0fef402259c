# nnU-Net v2, per experiment: raw dataset -> planning and preprocessing -> training per fold (GPU, resumable) ->
# prediction per case. Experiments (config `experiments`) differ only in the channels nnU-Net sees.


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


rule nnunet_train:
    # Inputs and params stay minimal so that edits elsewhere (figures, evaluation) never retrain a model. How a job
    # runs (nnunet.device, nnunet.checkpoint_every) is read from the config at run time: changing it redoes nothing.
    input:
        plans=f"{NNUNET_PREPROCESSED}/{NNUNET_PLANS}.json",
    output:
        # Only the final checkpoint is declared: Snakemake deletes declared outputs before a job starts, and the
        # retry after a time limit must find nnU-Net's checkpoint_latest.pth to resume from.
        checkpoint=f"{NNUNET_MODEL}/fold_{{fold}}/checkpoint_final.pth",
    log:
        f"{LOGS}/nnunet_train/{{variant}}/fold_{{fold}}.log",
    benchmark:
        f"{BENCHMARKS}/nnunet_train/{{variant}}/fold_{{fold}}.tsv"
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
        trainer=NNUNET["trainer"],
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
    script:
        "../scripts/nnunet_predict.py"
