"""Model folders in the exact form the workflow leaves them, without training: nnU-Net's plans of a real (tiny, CPU)
run (`nnunet_plans.json`), its dataset.json, the workflow's record with its elastix text, and a checkpoint holding
what nnU-Net's checkpoints hold (the network's initial weights, numpy floats in the training log, a torch.device)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hanseg.core import dataset_layout
from hanseg.core.defaults import DATA_DIR, ELASTIX_PARAMETER_FILES, PACKAGED_PREFIX
from hanseg.nnunet import MODEL_RECORD
from hanseg.nnunet.channels import nnunet_channel_names

PLANS = Path(__file__).with_name("nnunet_plans.json")
CONFIGURATION = "3d_fullres"


def model_record(channels: list[str]) -> dict:
    return {
        "experiment": "x",
        "channels": channels,
        "target_spacing": [0.5, 0.5, 2.0],
        "hu_clip": [-1000, 3000],
        "body_crop": False,
        "registration": {
            "parameter_files": list(ELASTIX_PARAMETER_FILES),
            "parameters": {
                name: (DATA_DIR / name.removeprefix(PACKAGED_PREFIX)).read_text() for name in ELASTIX_PARAMETER_FILES
            },
            "initialisation": "head_search",
        },
    }


def dataset_json(channels: list[str]) -> dict:
    return {
        "channel_names": nnunet_channel_names(channels),
        "labels": {"background": 0, **dataset_layout.LABEL_IDS},
        "numTraining": 2,
        "file_ending": ".nrrd",
    }


def model_folder(root: Path, channels: list[str], folds: tuple[str, ...] = ("all",), *, weights: bool = False) -> Path:
    """A model folder under `root`; its checkpoints are empty files unless `weights` (then loadable, untrained)."""
    folder = root / f"HanSegTrainer__nnUNetPlans__{CONFIGURATION}"
    folder.mkdir(parents=True)
    (folder / "plans.json").write_text(PLANS.read_text())
    (folder / "dataset.json").write_text(json.dumps(dataset_json(channels)))
    (folder / MODEL_RECORD).write_text(json.dumps(model_record(channels)))
    for fold in folds:
        (folder / f"fold_{fold}").mkdir()
        checkpoint = folder / f"fold_{fold}/checkpoint_final.pth"
        if weights:
            write_checkpoint(folder, checkpoint)
        else:
            checkpoint.write_bytes(b"")
    return folder


def checkpoint_content(folder: Path) -> dict:
    """What nnU-Net's trainer saves (nnUNetTrainer.save_checkpoint), for the folder's plans, untrained."""
    import numpy as np
    import torch
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from hanseg.nnunet.trainer import HanSegTrainer

    plans = json.loads((folder / "plans.json").read_text())
    dataset = json.loads((folder / "dataset.json").read_text())
    manager = PlansManager(plans)
    configuration = manager.get_configuration(CONFIGURATION)
    torch.manual_seed(0)
    network = HanSegTrainer.build_network_architecture(
        manager,
        configuration,
        determine_num_input_channels(manager, configuration, dataset),
        manager.get_label_manager(dataset).num_segmentation_heads,
        enable_deep_supervision=False,
    )
    return {
        "network_weights": network.state_dict(),
        "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.01}]},
        "grad_scaler_state": None,
        "logging": {"mean_fg_dice": [np.float32(0.5)], "train_losses": [np.float32(-0.1)], "lrs": [0.01]},
        "_best_ema": np.float32(0.5),
        "current_epoch": 1,
        "init_args": {
            "plans": plans,
            "configuration": CONFIGURATION,
            "fold": "all",
            "dataset_json": dataset,
            "device": torch.device("cpu"),
        },
        "trainer_name": "HanSegTrainer",
        "inference_allowed_mirroring_axes": (0, 1),
    }


def write_checkpoint(folder: Path, path: Path, content: dict | None = None) -> None:
    import torch

    torch.save(content if content is not None else checkpoint_content(folder), path)


class LeavesMarker:
    """Unpickled, it runs a shell command that creates the marker file (what a crafted checkpoint can do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)
