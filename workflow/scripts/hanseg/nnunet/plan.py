"""nnU-Net's fingerprint, planning and preprocessing, for one configuration."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import PLANS_NAME, dataset_folder_name, set_roots

log = logging.getLogger(__name__)


def plan_and_preprocess(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    *,
    processes: int = 1,
    gpu_memory_target_gb: float | None = None,
) -> Path:
    """Run the three steps; return the plans file."""
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
