# Shared by the stage files: config validation, the run record, the results' paths, the cases, wildcard constraints
# and the input functions, in the order of the DAG. Defined before used; paths are built one way (f-strings over
# the templates below, `expand` for lists).
import shutil
import sys
import zipfile
from pathlib import Path

from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

# The rules' scripts import the package from next to them; the Snakefile needs it for input functions too.
sys.path.insert(0, str(Path(workflow.current_basedir).parent / "scripts"))

from hanseg.core import dataset_layout, defaults  # noqa: E402
from hanseg.core.config_check import config_problems  # noqa: E402
from hanseg.jobs import results_lock, run_state  # noqa: E402
from hanseg.nnunet import (
    PLANS_NAME,
    dataset_folder_name,
    model_folder_name,
)  # noqa: E402
from hanseg.nnunet.channels import sources as channel_sources_of  # noqa: E402
from hanseg.nnunet.experiments import (
    PRESETS,
    resolve_experiments,
    sources_of,
    training_cost,
)  # noqa: E402


def stop(*lines):
    """End the run before any job, with at most three lines and no traceback: the user's next step is to fix what
    they name."""
    sys.exit("\n".join(f"hanseg: {line}" for line in lines[:3]))


def check_config():
    """One line per problem (the key, where it is, the closest valid key), instead of the schema dumped."""
    problems = config_problems(config)
    if len(problems) > 2:
        problems = [
            *problems[:2],
            f"... and {len(problems) - 2} more problems of the same config",
        ]
    if problems:
        files = ", ".join(str(path) for path in workflow.configfiles) or "the config"
        stop(*(f"{files}: {problem}" for problem in problems))


def check_conda():
    """A run that deploys conda envs (profiles/slurm does) without conda says what to do, not "Error running conda
    info"."""
    methods = workflow.deployment_settings.deployment_method
    if DeploymentMethod.CONDA in methods and not (
        shutil.which("conda") or shutil.which("mamba")
    ):
        stop(
            "conda was not found, but this run creates a conda env per rule (--sdm conda, set by profiles/slurm).",
            "Install conda (Miniforge) on this machine, or run with the envs your site provides: add "
            "--sdm env-modules (or --sdm apptainer) to the command.",
        )


check_config()
check_conda()
# The schema ships inside the package (hanseg.core.defaults reads the same defaults for the command line); Snakemake's
# validation fills them in.
validate(config, schema="../scripts/hanseg/resources/config.schema.yaml")


def take_results_lock():
    """One run at a time per results_dir, whatever folder it was started from: refuse beside a live run, replace a
    dead one's lock (docs/recovery.md, "Two runs, one results folder"). Not with --nolock.
    """
    if not workflow.execution_settings.lock:
        return
    try:
        replaced = results_lock.take(RESULTS)
    except results_lock.LockHeld as held:
        stop(str(held))
    if replaced:
        logger.warning(replaced)


# The results folder's lock, and the run record behind `hanseg status` (docs/recovery.md, "When a run dies"): taken
# and written by the main process of a real run only. Snakemake calls onstart after building the DAG, before the
# first job, never in a dry run nor in a job (jobs run with --no-hooks).
onstart:
    take_results_lock()
    run_state.record_start(log, results_dir=RESULTS)


onsuccess:
    results_lock.release(RESULTS)
    run_state.record_end("finished")


onerror:
    results_lock.release(RESULTS)
    run_state.record_end("failed")


DATASET = config["dataset"]
SOURCE = DATASET["source"]
NNUNET = config["nnunet"]


def resolved_experiments():
    try:
        return resolve_experiments(config)
    except ValueError as error:
        files = ", ".join(str(path) for path in workflow.configfiles) or "the config"
        stop(f"{files}: {error}")


# Experiments share everything up to the resampled cases and the split. Trained experiments with the same channels
# share one nnU-Net root (under the first one's folder: dataset, preprocessing, every model of those inputs side by
# side, as nnU-Net keeps them); each experiment has its own predictions and evaluation under experiments/<name>/.
# The first is the primary one (hanseg.nnunet.experiments).
EXPERIMENTS = resolved_experiments()
PRIMARY = next(iter(EXPERIMENTS))

# ---- the results' paths (README, "Where results land") ---------------------------------------------------------
RESULTS = config["results_dir"].rstrip("/")
# Logs and benchmarks live with the results, so two runs (the demo and the paper's) never overwrite each other's.
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
MANIFEST = f"{RESULTS}/data/manifest.json"
CASE = f"{RESULTS}/cases/{{case}}"
CLIPPED_CT = f"{CASE}/ct_clipped.nrrd"
REGISTRATION = f"{CASE}/registration"
RESAMPLED = f"{CASE}/resampled"
SPLIT_TSV = f"{RESULTS}/split/split.tsv"
NNUNET_DATASET = dataset_folder_name(NNUNET["dataset_id"], NNUNET["dataset_name"])
# The plans the preprocessing job writes: nnU-Net's own, or the smaller plans derived from them (nnunet.plans_overrides:
# the CPU demo and tests). Other plans (residual-encoder presets, an experiment's own overrides): the nnunet_plan job.
NNUNET_PLANS = (NNUNET["plans_overrides"] or {}).get("name", PLANS_NAME)
EXPERIMENT = f"{RESULTS}/experiments/{{variant}}"
# {variant} of the nnU-Net paths: the experiment that holds the dataset (Experiment.dataset_of).
NNUNET_RAW = f"{EXPERIMENT}/nnunet/raw/{NNUNET_DATASET}"
NNUNET_PREPROCESSED = f"{EXPERIMENT}/nnunet/preprocessed/{NNUNET_DATASET}"
NNUNET_MODEL = f"{EXPERIMENT}/nnunet/results/{NNUNET_DATASET}/{{model}}"
# The network's label map, and (cross-validation) the same with the model's post-processing decision applied.
PREDICTION = f"{EXPERIMENT}/predictions/{{case}}.nrrd"
POSTPROCESSED = f"{EXPERIMENT}/predictions_postprocessed/{{case}}.nrrd"
# The model's result on the original CT's grid (the challenge's label map, and a Slicer .seg.nrrd beside it).
SEGMENTATION = f"{EXPERIMENT}/segmentations/{{case}}.nrrd"
EVALUATION = f"{EXPERIMENT}/evaluation"
FIGURES = f"{RESULTS}/figures"
TABLES = f"{RESULTS}/tables"

# ---- the cases --------------------------------------------------------------------------------------------------
# Set 1 of the public archive holds case_01..case_42 (dataset facts); listing them here lets a dry run show the
# whole DAG before anything is downloaded.
PUBLIC_SET1_CASES = [dataset_layout.case_id(i) for i in range(1, 43)]


def local_path():
    path = DATASET["local_path"]
    if not path:
        stop("dataset.local_path must be set when dataset.source is 'local'")
    path = Path(path).expanduser()
    if not path.exists():
        stop(
            f"dataset.local_path: {path} does not exist (the extracted HaN-Seg folder or HaN-Seg.zip)"
        )
    return path


def local_is_zip():
    return SOURCE == "local" and local_path().is_file()


def cases_in_local_source():
    path = local_path()
    if path.is_file():
        with zipfile.ZipFile(path) as archive:
            parts = [Path(name).parts for name in archive.namelist()]
        names = {
            p[i + 1]
            for p in parts
            for i in range(len(p) - 1)
            if p[i] == dataset_layout.TRAIN_SET
        }
        found = sorted(
            (n for n in names if dataset_layout.is_case_id(n)), key=lambda c: int(c[5:])
        )
    else:
        root = dataset_layout.find_data_root(path)
        if root is None:
            stop(
                f"dataset.local_path: no {dataset_layout.TRAIN_SET}/ folder under {path}"
            )
        found = dataset_layout.list_cases(root)
    if not found:
        stop(f"dataset.local_path: no case_NN folders in {path}")
    return found


def configured_cases():
    if DATASET["cases"]:
        return list(DATASET["cases"])
    if SOURCE == "zenodo":
        return PUBLIC_SET1_CASES
    if SOURCE == "phantom":
        return [
            dataset_layout.case_id(i) for i in range(1, DATASET["phantom"]["cases"] + 1)
        ]
    return cases_in_local_source()


CASES = configured_cases()


wildcard_constraints:
    case="|".join(CASES),
    variant="|".join(config["experiments"]),
    fold="all|[0-9]+",
    model="|".join(
        sorted(
            {
                e.model_folder_name(NNUNET["configuration"])
                for e in EXPERIMENTS.values()
            }
        )
    ),


def archive_path():
    """The zip that extract_archive unpacks (none for a local extracted folder)."""
    if SOURCE == "zenodo":
        return f"{RESULTS}/downloads/{dataset_layout.ARCHIVE_NAME}"
    if SOURCE == "phantom":
        return f"{RESULTS}/phantom/{dataset_layout.ARCHIVE_NAME}"
    return str(local_path())


def case_record(wildcards):
    return f"{RESULTS}/inventory/cases/{wildcards.case}.json"


def all_targets():
    return [
        f"{RESULTS}/inventory/cases.tsv",
        f"{RESULTS}/inventory/organs.tsv",
        *expand(CLIPPED_CT, case=CASES),
        *expand(f"{RESAMPLED}/labels.nrrd", case=CASES),
        SPLIT_TSV,
    ]


def elastix_parameter_files():
    """Configured parameter files: hanseg:<name> = shipped with the package; else the working directory's, or the
    workflow's."""
    files = defaults.resolve_data_files(
        config["registration"]["parameter_files"],
        search=[workflow.basedir],
        what="registration.parameter_files:",
    )
    return [str(path) for path in files]


def landmarks_root():
    if config["registration"]["landmarks_dir"]:
        return config["registration"]["landmarks_dir"]
    if SOURCE == "phantom":
        return f"{RESULTS}/phantom/truth"
    return None


def registration_inputs(wildcards):
    inputs = {
        "ct": CLIPPED_CT.format(case=wildcards.case),
        "record": case_record(wildcards),
        "parameter_files": elastix_parameter_files(),
    }
    if landmarks_root():
        inputs["landmarks"] = landmarks_root()
    return inputs


def registration_reports():
    return expand(f"{REGISTRATION}/registration.json", case=CASES)


def excluding_failed_registrations():
    """registration.on_fail: exclude (hanseg.registration.qc_verdict): a failed registration's case leaves the split."""
    return config["registration"]["on_fail"] == "exclude"


def split_inputs(wildcards):
    """The inventory; under registration.on_fail: exclude also every registration report (their QC verdicts).

    Only then: an input added under the default would rerun the split, and every model after it, for existing runs.
    """
    inputs = {"cases": f"{RESULTS}/inventory/cases.tsv"}
    if excluding_failed_registrations():
        inputs["registrations"] = registration_reports()
    return inputs


# ---- split, experiments and nnU-Net ------------------------------------------------------------------------------


def comparison_pairs():
    """Configured pairs (a, b), or every experiment against the first."""
    pairs = [tuple(p) for p in config["comparisons"]] or [
        (v, PRIMARY) for v in EXPERIMENTS if v != PRIMARY
    ]
    for a, b in pairs:
        for name in (a, b):
            if name not in EXPERIMENTS:
                stop(
                    f"comparisons: {name!r} is not one of the experiments {list(EXPERIMENTS)}"
                )
        if a == b:
            stop(f"comparisons: cannot compare {a!r} with itself")
    return pairs


def channels_of(wildcards):
    return list(EXPERIMENTS[wildcards.variant].channels)


def given_channels_of(wildcards):
    """The channels the experiment's prediction is given (all of them, or e.g. CT alone for a dropout model)."""
    return EXPERIMENTS[wildcards.variant].given_channels


def channel_sources(variant):
    """The resampled images ("ct", "mr", "fov") the variant's channels are made from."""
    return channel_sources_of(list(EXPERIMENTS[variant].channels))


def trained_experiment(wildcards):
    """The experiment that trains the model {model} of the nnU-Net root under experiments/{variant}."""
    for e in EXPERIMENTS.values():
        if (
            e.trains
            and e.dataset_of == wildcards.variant
            and e.model_folder_name(NNUNET["configuration"]) == wildcards.model
        ):
            return e
    raise ValueError(
        f"no experiment trains {wildcards.model} under experiments/{wildcards.variant}"
    )


def plans_specs():
    """{(dataset experiment, plans name): (preset, overrides)} of every plans the nnunet_plan job writes: the plans
    experiments train with beyond the default ones, and the presets that derived plans start from.
    """
    specs = {}
    for e in EXPERIMENTS.values():
        if not e.trains:
            continue
        if e.plans_overrides and e.preset != PLANS_NAME:
            specs[(e.dataset_of, e.preset)] = (e.preset, None)
        if e.plans != NNUNET_PLANS:
            specs[(e.dataset_of, e.plans)] = (e.preset, e.plans_overrides)
    return specs


def plan_inputs(wildcards):
    """The default plans (their job wrote the fingerprint and nnU-Net's own plans), and the preset that derived
    plans start from."""
    preset, overrides = plans_specs()[(wildcards.variant, wildcards.plans)]
    inputs = {"default_plans": f"{NNUNET_PREPROCESSED}/{NNUNET_PLANS}.json"}
    if overrides and preset != PLANS_NAME:
        inputs["preset"] = f"{NNUNET_PREPROCESSED}/{preset}.json"
    return {key: path.format(variant=wildcards.variant) for key, path in inputs.items()}


def plan_params(wildcards):
    preset, overrides = plans_specs()[(wildcards.variant, wildcards.plans)]
    return {
        "preset": preset,
        "planner": PRESETS[preset].planner,
        "plans_overrides": canonical(overrides),
    }


def training_plans(wildcards):
    e = trained_experiment(wildcards)
    return f"{NNUNET_PREPROCESSED}/{e.plans}.json".format(variant=wildcards.variant)


def postprocessing_applies(variant):
    """Whether the experiment's predictions get its model's post-processing decision: cross-validation only (the
    decision needs every case predicted by a model that did not see it)."""
    return config["split"]["method"] == "cv" and EXPERIMENTS[variant].postprocessing


def resampled(case, source):
    name = {"ct": "ct", "mr": "mr", "fov": "fov_mask", "labels": "labels"}[source]
    return f"{RESAMPLED}/{name}.nrrd".format(case=case)


def nnunet_dataset_inputs(wildcards):
    """The split, and per resampled image the variant needs, one file per case in CASES order."""
    inputs = {"split": SPLIT_TSV}
    for source in [*channel_sources(wildcards.variant), "labels"]:
        inputs[source] = [resampled(case, source) for case in CASES]
    return inputs


def canonical(value):
    """`value` with every mapping's keys sorted: Snakemake compares params by their repr, so reordering keys in the
    config (as YAML dumpers do) must not look like a change and redo hours of planning.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def model_record(wildcards):
    """What `hanseg segment` needs to prepare a new case exactly as the model's training cases were."""
    e = trained_experiment(wildcards)
    # Only for a dropout model: a record (a param) unchanged for the others, so upgrading retrains nothing.
    dropout = (
        {"modality_dropout": e.modality_dropout, "accepted_inputs": e.accepted_inputs}
        if e.modality_dropout
        else {}
    )
    return {
        "experiment": e.name,
        "channels": list(e.channels),
        **dropout,
        "target_spacing": config["preprocessing"]["target_spacing"],
        "hu_clip": config["preprocessing"]["hu_clip"],
        "body_crop": config["preprocessing"]["body_crop"],
        "registration": {
            # As configured: "hanseg:<name>" are the packaged files, resolvable anywhere.
            "parameter_files": list(config["registration"]["parameter_files"]),
            # The files' text too, so that the model folder alone registers a new case as its training cases were.
            "parameters": {
                name: Path(path).read_text()
                for name, path in zip(
                    config["registration"]["parameter_files"], elastix_parameter_files()
                )
            },
            "initialisation": config["registration"]["initialisation"],
        },
    }


def nnunet_root_of(wildcards, input):
    """nnU-Net's root folder as the job sees its plans file (<root>/preprocessed/<dataset>/<plans>.json).

    Derived from the job's own input, not hard-coded, so that a storage plugin's path prefix carries over.
    """
    return str(Path(input.plans).parents[2])


def nnunet_root_of_output(wildcards, output):
    return str(Path(output.plans).parents[2])


def training_folds():
    if config["split"]["method"] == "cv":
        return [str(k) for k in range(config["split"]["folds"])]
    return ["all"]


def read_split_table():
    import pandas as pd

    return pd.read_csv(checkpoints.split.get().output.split, sep="\t")


def test_cases():
    """Cases to predict and evaluate: the holdout's test part, or every case under cv (known after the split)."""
    table = read_split_table()
    return sorted(table.loc[table["role"] == "test", "case"])


def fold_of(case):
    if config["split"]["method"] != "cv":
        return "all"
    table = read_split_table()
    return str(int(table.loc[table["case"] == case, "fold"].iloc[0]))


def model_folder_of(variant):
    """The folder of the model the experiment predicts with (its own, or the one it scores)."""
    e = EXPERIMENTS[variant]
    return NNUNET_MODEL.format(
        variant=e.dataset_of, model=e.model_folder_name(NNUNET["configuration"])
    )


def checkpoint_of(variant, fold):
    return f"{model_folder_of(variant)}/fold_{fold}/checkpoint_final.pth"


def decision_of(variant):
    """The model's post-processing decision (recorded in its folder)."""
    return f"{model_folder_of(variant)}/postprocessing.json"


def network_prediction_of(variant, case):
    """The network's label map for the case: a scoring experiment given all of its model's inputs reads the model's
    own (nothing is predicted twice)."""
    e = EXPERIMENTS[variant]
    source = e.model_of if e.inputs == EXPERIMENTS[e.model_of].inputs else variant
    return PREDICTION.format(variant=source, case=case)


def prediction_of(variant, case):
    """The label map the experiment is evaluated on (post-processed where that applies)."""
    if postprocessing_applies(variant):
        return POSTPROCESSED.format(variant=variant, case=case)
    return network_prediction_of(variant, case)


def postprocess_inputs(wildcards):
    return {
        "prediction": network_prediction_of(wildcards.variant, wildcards.case),
        "decision": decision_of(wildcards.variant),
    }


def decision_inputs(wildcards):
    """Every case's cross-validation prediction by the model (the fold that did not see it) and its reference, and
    the folds' checkpoints (nnU-Net's plans.json and dataset.json beside them)."""
    e = trained_experiment(wildcards)
    cases = test_cases()
    return {
        "checkpoints": [checkpoint_of(e.name, fold) for fold in training_folds()],
        "predictions": [PREDICTION.format(variant=e.name, case=c) for c in cases],
        "references": [f"{RESAMPLED}/labels.nrrd".format(case=c) for c in cases],
    }


def segmentation_of(variant, case):
    return SEGMENTATION.format(variant=variant, case=case)


def prediction_inputs(wildcards):
    inputs = {
        source: resampled(wildcards.case, source)
        for source in sources_of(EXPERIMENTS[wildcards.variant])
    }
    inputs["checkpoint"] = checkpoint_of(wildcards.variant, fold_of(wildcards.case))
    return inputs


def train_resources():
    # A cluster's GPU partition and time limit are site settings: profiles/slurm sets them (set-resources).
    resources = {"mem_mb": 32000, "runtime": 2880}
    if NNUNET["device"] == "cuda":
        resources["gpu"] = 1
    return resources


def segment_inputs(wildcards):
    """What `nnunet_predict` reads, and the original CT's grid (the clipped CT keeps it exactly)."""
    inputs = prediction_inputs(wildcards)
    inputs["original_ct"] = CLIPPED_CT.format(case=wildcards.case)
    if postprocessing_applies(wildcards.variant):
        inputs["decision"] = decision_of(wildcards.variant)
    return inputs


def evaluation_inputs(wildcards):
    case = wildcards.case
    inputs = {"prediction": prediction_of(wildcards.variant, case)}
    if config["evaluation"]["space"] == "resampled":
        # labelmap: the training label map itself (one label per voxel); masks: each organ's full mask
        reference = {"labelmap": "labels.nrrd", "masks": "organs"}
        inputs["reference"] = (
            f"{RESAMPLED}/{reference[config['evaluation']['reference']]}".format(
                case=case
            )
        )
        fov = f"{RESAMPLED}/fov_mask.nrrd".format(case=case)
    else:
        # the segment rule's label map on the CT's grid: one back-mapping for the workflow and `hanseg segment`
        inputs["prediction"] = segmentation_of(wildcards.variant, case)
        inputs["record"] = case_record(wildcards)
        fov = f"{REGISTRATION}/fov_mask.nrrd".format(case=case)
    if config["evaluation"]["crop_to_mr_fov"]:
        inputs["fov"] = fov
    return inputs


def evaluation_targets(wildcards):
    return expand(
        f"{EVALUATION}/cases/{{case}}.tsv", variant=wildcards.variant, case=test_cases()
    )


def aggregate_inputs(wildcards):
    """The test cases' tables; under registration.on_fail: exclude also the split, whose excluded cases Table 2
    names (only then: a new input would redo Table 2 and what follows it for existing runs).
    """
    inputs = {"tables": evaluation_targets(wildcards)}
    if excluding_failed_registrations():
        inputs["split"] = SPLIT_TSV
    return inputs


def laterality_targets(wildcards):
    return expand(
        f"{EVALUATION}/laterality/{{case}}.tsv",
        variant=wildcards.variant,
        case=test_cases(),
    )


def overlap_records(wildcards):
    """Resampling's overlap counts and organ sizes of the test cases, for the Dice-ceiling table."""
    cases = test_cases()
    return {
        "overlaps": expand(f"{RESAMPLED}/overlaps.tsv", case=cases),
        "summaries": expand(f"{RESAMPLED}/resample.json", case=cases),
    }


def experiment_targets(wildcards):
    """Every experiment's Table 2 and left/right check, and the comparisons (known after the split)."""
    targets = []
    for variant in EXPERIMENTS:
        evaluation = EVALUATION.format(variant=variant)
        targets += [f"{evaluation}/table2.md", f"{evaluation}/laterality.md"]
    for a, b in comparison_pairs():
        targets.append(f"{RESULTS}/experiments/comparison_{a}_vs_{b}.md")
        targets.append(f"{FIGURES}/comparison_{a}_vs_{b}.png")
    return targets


def segmentation_targets(wildcards):
    """The primary model's test cases on their own CTs' grids, as `hanseg segment` writes them.

    Its own input function: the test cases are known only after the split (a checkpoint), and a function that waits
    for a checkpoint contributes nothing to a dry run; the other targets must still be listed.
    """
    return [segmentation_of(PRIMARY, case) for case in test_cases()]


# ---- figures, tables and the report ------------------------------------------------------------------------------
# The paper's figures show case 21; a run without it (phantom, a subset) shows its first case instead.
FIGURE_CASE = (
    config["figures"]["case"] if config["figures"]["case"] in CASES else CASES[0]
)


def figure4_case():
    """The configured figure case if it is a test case (it needs a prediction), else the first test case."""
    tests = test_cases()
    return config["figures"]["case"] if config["figures"]["case"] in tests else tests[0]


def figure4_inputs(wildcards):
    case = figure4_case()
    return {
        "ct": f"{RESAMPLED}/ct.nrrd".format(case=case),
        "reference": f"{RESAMPLED}/labels.nrrd".format(case=case),
        "prediction": prediction_of(PRIMARY, case),
    }


def figure4_case_param(wildcards):
    return figure4_case()


def training_checkpoints():
    # The folds follow from the config alone, so a dry run before any data already shows every training job.
    return [
        checkpoint_of(v, fold)
        for v, e in EXPERIMENTS.items()
        if e.trains
        for fold in training_folds()
    ]


def training_experiments():
    return [v for v, e in EXPERIMENTS.items() if e.trains for fold in training_folds()]


def decision_targets():
    """The post-processing decision of every model whose predictions some experiment post-processes (cross-validation
    only: postprocessing_applies)."""
    applied = {
        e.model_of for e in EXPERIMENTS.values() if postprocessing_applies(e.name)
    }
    return [decision_of(v) for v in EXPERIMENTS if v in applied]


def show_training_plan():
    """Every run, the dry run included, states per trained experiment its model (trainer and plans) and what training
    it costs (nnU-Net's published figures for its plans) times the split's folds, before anything trains
    (docs/costs.md). Not in the jobs (Snakemake parses the workflow again in each)."""
    if not workflow.is_main_process:
        return
    folds = len(training_folds())
    # Not prefixed "hanseg:": that prefix marks the lines that stop a run.
    logger.info(
        f"Training per experiment, with nnU-Net's published A100 figures for its plans scaled to "
        f"{NNUNET['epochs']} x {NNUNET['iterations_per_epoch']} iterations (docs/costs.md, 'Training'):"
    )
    for e in EXPERIMENTS.values():
        if e.trains:
            logger.info(f"  {training_cost(e, NNUNET, folds)}")


show_training_plan()


def figure_targets():
    targets = [
        f"{TABLES}/table1.csv",
        f"{TABLES}/table1.md",
        f"{FIGURES}/figure1_ct_mr.png",
        f"{FIGURES}/figure2_split.png",
        f"{FIGURES}/figure3_organs_3d.png",
        f"{FIGURES}/figure4_organs_overlay.png",
        f"{FIGURES}/dc_hd95_boxplots.png",
        f"{FIGURES}/table2_vs_paper_forest.png",
        f"{RESULTS}/evaluation/overlap_ceiling.md",
        f"{FIGURES}/registration_montage.png",
        f"{RESULTS}/provenance.md",
    ]
    if landmarks_root():
        targets.append(f"{FIGURES}/tre_per_case.png")
    return targets
