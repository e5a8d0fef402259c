"""nnU-Net's fingerprint, planning and preprocessing for one configuration, and derived (smaller) plans.

nnU-Net's own plans (`nnUNetPlans`) are what the paper's run trains. A CPU cannot train that network in minutes, so the
demo and the tests train a smaller one through nnU-Net's documented extension point: a second plans file, beside
nnU-Net's own and under its own identifier, whose configuration keeps the preprocessing (spacing, normalisation,
`data_identifier`: the preprocessed cases are shared, not recomputed) and changes only the network (features per
stage, number of stages), the patch and the batch. nnU-Net's own plans file is never modified.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from pathlib import Path

from hanseg.core.atomic import write_text_atomic
from hanseg.nnunet import PLANS_NAME, dataset_folder_name, set_roots

log = logging.getLogger(__name__)

#: Keys of `nnunet.plans_overrides` besides `name`.
OVERRIDE_KEYS = ("features_per_stage", "patch_size", "batch_size")


def plan_and_preprocess(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    *,
    processes: int = 1,
    gpu_memory_target_gb: float | None = None,
) -> Path:
    """Run the three steps; return nnU-Net's own plans file."""
    set_roots(nnunet_root)
    # The planner sets torch's thread count from nnU-Net's augmentation-worker setting: keep it at the job's size.
    os.environ["nnUNet_n_proc_DA"] = str(max(processes, 1))
    os.environ["nnUNet_def_n_proc"] = str(max(processes, 1))
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess

    extract_fingerprints(
        [dataset_id],
        num_processes=processes,
        check_dataset_integrity=True,
        clean=True,
        verbose=False,
        show_progress_bar=False,
    )
    plan_experiments([dataset_id], gpu_memory_target_in_gb=gpu_memory_target_gb)
    preprocess(
        [dataset_id], PLANS_NAME, configurations=[configuration], num_processes=[processes], show_progress_bar=False
    )
    plans = Path(nnunet_root) / "preprocessed" / dataset_folder_name(dataset_id, dataset_name) / f"{PLANS_NAME}.json"
    if not plans.is_file():
        raise RuntimeError(f"nnU-Net planning wrote no {plans}")
    return plans


def plan_preset(nnunet_root: Path | str, dataset_id: int, dataset_name: str, planner: str) -> Path:
    """nnU-Net's plans of one of its planners (e.g. nnUNetPlannerResEncM) from the dataset's fingerprint, planning
    only: the residual-encoder presets preprocess as the default plans do (same `data_identifier`), so their training
    reads the default plans' preprocessed data. Returns the plans file nnU-Net wrote."""
    set_roots(nnunet_root)
    from nnunetv2.experiment_planning.experiment_planners import default_experiment_planner
    from nnunetv2.experiment_planning.experiment_planners.residual_unets import residual_encoder_unet_planners

    modules = (residual_encoder_unet_planners, default_experiment_planner)
    planner_class = next((getattr(m, planner) for m in modules if hasattr(m, planner)), None)
    if planner_class is None:
        raise ValueError(f"unknown nnU-Net planner {planner!r}")
    instance = planner_class(dataset_id)  # each preset's own GPU memory target
    plans = instance.plan_experiment()
    folder = Path(nnunet_root) / "preprocessed" / dataset_folder_name(dataset_id, dataset_name)
    path = folder / f"{plans['plans_name']}.json"
    if not path.is_file():
        raise RuntimeError(f"nnU-Net's {planner} wrote no {path}")
    return path


def derive_plans(plans: dict, configuration: str, name: str, overrides: dict) -> dict:
    """A copy of nnU-Net's plans named `name`, with `configuration`'s network, patch and batch overridden.

    `features_per_stage` sets the number of stages too: nnU-Net's own stages are kept from the first, so the
    resolution steps (strides, kernel sizes) stay those nnU-Net chose for this data. Every patch axis must be a
    multiple of the network's total downsampling along it.
    """
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"nnunet.plans_overrides: unknown keys {unknown} (known: name, {', '.join(OVERRIDE_KEYS)})")
    if name == plans["plans_name"]:
        raise ValueError(f"nnunet.plans_overrides.name must differ from nnU-Net's own plans name {name!r}")
    derived = copy.deepcopy(plans)
    derived["plans_name"] = name
    config = derived["configurations"][configuration]
    architecture = config["architecture"]["arch_kwargs"]
    features = overrides.get("features_per_stage")
    if features is not None:
        stages = len(features)
        if not 2 <= stages <= architecture["n_stages"]:
            raise ValueError(
                f"nnunet.plans_overrides.features_per_stage: {stages} stages; this configuration allows 2 to "
                f"{architecture['n_stages']}"
            )
        architecture["n_stages"] = stages
        architecture["features_per_stage"] = [int(f) for f in features]
        # n_conv_per_stage: nnU-Net's plain UNet; n_blocks_per_stage: its residual-encoder presets
        for key in ("kernel_sizes", "strides", "n_conv_per_stage", "n_blocks_per_stage"):
            if key in architecture:
                architecture[key] = architecture[key][:stages]
        architecture["n_conv_per_stage_decoder"] = architecture["n_conv_per_stage_decoder"][: stages - 1]
    if overrides.get("patch_size") is not None:
        config["patch_size"] = [int(v) for v in overrides["patch_size"]]
    if overrides.get("batch_size") is not None:
        config["batch_size"] = int(overrides["batch_size"])
    downsampling = [math.prod(stride[axis] for stride in architecture["strides"]) for axis in range(3)]
    if len(config["patch_size"]) != len(downsampling) or any(
        p % d for p, d in zip(config["patch_size"], downsampling, strict=True)
    ):
        raise ValueError(
            f"nnunet.plans_overrides: patch size {config['patch_size']} (nnU-Net's axis order) must be a multiple of "
            f"the network's downsampling {downsampling} along each axis"
        )
    return derived


def write_derived_plans(nnunet_plans: Path | str, configuration: str, overrides: dict, target: Path | str) -> Path:
    """Write the derived plans (`target`, named `<overrides name>.json` beside nnU-Net's own); return its path."""
    options = dict(overrides)
    name = options.pop("name")
    target = Path(target)
    if target.name != f"{name}.json" or target.parent != Path(nnunet_plans).parent:
        raise ValueError(f"derived plans {name!r} belong beside {nnunet_plans} as {name}.json, not at {target}")
    derived = derive_plans(json.loads(Path(nnunet_plans).read_text()), configuration, name, options)
    write_text_atomic(target, json.dumps(derived, indent=1) + "\n")
    architecture = derived["configurations"][configuration]["architecture"]["arch_kwargs"]
    log.info(
        "plans %s: features %s, patch %s, batch %s",
        name,
        architecture["features_per_stage"],
        derived["configurations"][configuration]["patch_size"],
        derived["configurations"][configuration]["batch_size"],
    )
    return target
