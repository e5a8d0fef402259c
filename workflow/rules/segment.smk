# The trained model applied as `hanseg segment` applies it, to the run's own test cases: the run's registration and
# resampling are reused (nothing is registered twice), and the result is brought onto each original CT's grid: the
# challenge's label map (uint8, ids 1..30) and a 3D Slicer segmentation beside it. evaluation.space: original scores
# these.


rule segment:
    input:
        unpack(segment_inputs),
    output:
        labels=SEGMENTATION,
        slicer=f"{EXPERIMENT}/segmentations/{{case}}.seg.nrrd",
    log:
        f"{LOGS}/segment/{{variant}}/{{case}}.log",
    benchmark:
        f"{BENCHMARKS}/segment/{{variant}}/{{case}}.tsv"
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
        given=given_channels_of,
        backmap=config["segment"]["backmap"],
    script:
        "../scripts/segment.py"
