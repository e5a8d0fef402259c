# hanseg-workflow: the HaN-Seg dataset paper's nnU-Net baseline, end to end.
# Quick start: README.md; the command-line contract: docs/command-line.md. Config keys: config/README.md and the schema,
# workflow/scripts/hanseg/resources/config.schema.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/preprocessing.smk"
include: "workflow/rules/registration.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/nnunet.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        training_checkpoints(),
        experiment_targets,
        segmentation_targets,
        figure_targets(),
