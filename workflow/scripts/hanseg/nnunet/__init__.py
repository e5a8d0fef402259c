"""Stage 4, nnU-Net v2 driven through its Python API: takes the resampled cases and the split and gives the nnU-Net
raw dataset, plans and preprocessed data, trained folds (the project's trainer) and predictions on the model's grid.

The nnU-Net roots (`nnUNet_raw`, `nnUNet_preprocessed`, `nnUNet_results`) are set with `set_roots` before any
nnU-Net import, so every rule points nnU-Net at the workflow's own results folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PLANS_NAME = "nnUNetPlans"
TRAINER_NAME = "HanSegTrainer"
#: What a trained model folder records of how its training cases were prepared (written by nnunet_train).
MODEL_RECORD = "hanseg_model.json"


def set_roots(nnunet_root: Path | str) -> dict[str, str]:
    """Point nnU-Net at `<root>/{raw,preprocessed,results}` (created if needed)."""
    root = Path(nnunet_root).resolve()
    roots = {
        "nnUNet_raw": str(root / "raw"),
        "nnUNet_preprocessed": str(root / "preprocessed"),
        "nnUNet_results": str(root / "results"),
    }
    for name, path in roots.items():
        Path(path).mkdir(parents=True, exist_ok=True)
        os.environ[name] = path
    return roots


def dataset_folder_name(dataset_id: int, dataset_name: str) -> str:
    return f"Dataset{dataset_id:03d}_{dataset_name}"


def model_folder_name(trainer: str, plans: str, configuration: str) -> str:
    """nnU-Net's name of a trained model's folder: ``<trainer>__<plans>__<configuration>``."""
    return f"{trainer}__{plans}__{configuration}"


def model_folder(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    *,
    trainer: str = TRAINER_NAME,
    plans: str = PLANS_NAME,
) -> Path:
    """Where nnU-Net puts the trainer's folds: results/Dataset.../<trainer>__<plans>__<configuration>."""
    dataset = dataset_folder_name(dataset_id, dataset_name)
    return Path(nnunet_root) / "results" / dataset / model_folder_name(trainer, plans, configuration)
