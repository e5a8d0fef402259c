# Which cases train and which test (a checkpoint: the prediction targets are known once it has run).


checkpoint split:
    input:
        unpack(split_inputs),
    output:
        split=report(
            SPLIT_TSV,
            caption="../report/split.rst",
            category="Data",
            labels={"table": "split"},
        ),
    log:
        f"{LOGS}/split.log",
    conda:
        "../envs/data.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/split.py"
