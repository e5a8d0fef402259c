# Data in: download (or phantom, or a local copy) -> safe extraction -> per-case validation -> inventory tables.


localrules:
    download_archive,
    inventory,
    split,
    aggregate,


rule download_archive:
    output:
        f"{RESULTS}/downloads/{dataset_layout.ARCHIVE_NAME}",
    log:
        f"{LOGS}/download_archive.log",
    conda:
        "../envs/data.yaml"
    params:
        url=DATASET["url"],
        sha256=DATASET["sha256"],
        size=DATASET["size"],
        retries=DATASET["download_retries"],
    script:
        "../scripts/download_archive.py"


rule make_phantom:
    output:
        archive=f"{RESULTS}/phantom/{dataset_layout.ARCHIVE_NAME}",
        truth=directory(f"{RESULTS}/phantom/truth"),
    log:
        f"{LOGS}/make_phantom.log",
    benchmark:
        f"{BENCHMARKS}/make_phantom.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cases=DATASET["phantom"]["cases"],
        seed=DATASET["phantom"]["seed"],
        shape=DATASET["phantom"]["shape"],
        fov_mm=DATASET["phantom"]["fov_mm"],
        slice_mm=DATASET["phantom"]["slice_mm"],
        mr_shape=DATASET["phantom"]["mr_shape"],
        mr_spacing=DATASET["phantom"]["mr_spacing"],
    script:
        "../scripts/make_phantom.py"


if SOURCE == "local" and not local_is_zip():

    localrules:
        use_local_folder,

    rule use_local_folder:
        output:
            manifest=MANIFEST,
        log:
            f"{LOGS}/use_local_folder.log",
        conda:
            "../envs/data.yaml"
        params:
            folder=str(local_path()),
        script:
            "../scripts/use_local_folder.py"

else:

    localrules:
        extract_archive,

    rule extract_archive:
        input:
            archive=archive_path(),
        output:
            manifest=MANIFEST,
        log:
            f"{LOGS}/extract_archive.log",
        conda:
            "../envs/data.yaml"
        params:
            target=f"{RESULTS}/data/{dataset_layout.TOP_DIR}",
            source=SOURCE,
        script:
            "../scripts/extract_archive.py"


rule inventory_case:
    input:
        manifest=MANIFEST,
    output:
        record=f"{RESULTS}/inventory/cases/{{case}}.json",
    log:
        f"{LOGS}/inventory_case/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/inventory_case/{{case}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=30,
    params:
        strict=DATASET["strict"],
    script:
        "../scripts/inventory_case.py"


rule inventory:
    input:
        records=expand(f"{RESULTS}/inventory/cases/{{case}}.json", case=CASES),
    output:
        cases=report(
            f"{RESULTS}/inventory/cases.tsv",
            caption="../report/inventory_cases.rst",
            category="Data",
            labels={"table": "cases"},
        ),
        organs=report(
            f"{RESULTS}/inventory/organs.tsv",
            caption="../report/inventory_organs.rst",
            category="Data",
            labels={"table": "organs"},
        ),
    log:
        f"{LOGS}/inventory.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/inventory.py"
