"""Training one fold with HanSegTrainer: fail fast without CUDA, resume from the latest checkpoint, record the run.

A SLURM time limit kills long trainings. The job's declared output is only `checkpoint_final.pth`, so Snakemake
never deletes nnU-Net's `checkpoint_latest.pth`; the retry finds it and continues from its epoch.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from importlib import metadata
from pathlib import Path

from hanseg.core import defaults
from hanseg.core.atomic import write_text_atomic
from hanseg.nnunet import MODEL_RECORD, PLANS_NAME, TRAINER_NAME, dataset_folder_name, model_folder, set_roots

log = logging.getLogger(__name__)

#: In a model folder (<trainer>__<plans>__<configuration>): how the workflow prepared the cases the model learned from.


def resolve_device(requested: str):
    """torch.device for the request; a GPU request without CUDA fails at once, saying why."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' (nnunet.device; hanseg segment --device) but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}, "
            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}). "
            "Either the job got no GPU (the profile's gpu resource and partition), or the environment holds a "
            "CPU-only PyTorch (a CPU install line, or a driver too old for its CUDA build): recreate the env from "
            "workflow/envs/nnunet.yaml (docs/recovery.md, 'CUDA driver too old, or no GPU in the job'), or set "
            "nnunet.device: cpu (hanseg segment --device cpu)."
        )
    if requested == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("nnunet.device is 'mps' but this PyTorch has no MPS support")
    return torch.device(requested)


def train_fold(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    fold: str | int,
    *,
    plans_file: Path | str | None = None,
    trainer: str = TRAINER_NAME,
    expected_checkpoint: Path | str | None = None,
    device: str = defaults.NNUNET_DEVICE,
    threads: int = 1,
    epochs: int = defaults.NNUNET_EPOCHS,
    iterations_per_epoch: int = defaults.NNUNET_ITERATIONS_PER_EPOCH,
    val_iterations_per_epoch: int = defaults.NNUNET_VAL_ITERATIONS_PER_EPOCH,
    save_every: int = defaults.NNUNET_CHECKPOINT_EVERY,
    final_validation: bool = False,
    model_record: dict | None = None,
) -> Path:
    """Train (or resume) one fold; return checkpoint_final.pth.

    `plans_file` defaults to nnU-Net's own plans; `trainer` names a class of :data:`hanseg.nnunet.trainer.TRAINERS`.
    With `expected_checkpoint`, nnU-Net's own output folder must be that file's folder (it names the folder itself).
    `model_record` (what a user of the model needs to prepare a new case: channels, grid, HU clip, body crop) goes
    into the model folder as :data:`MODEL_RECORD`, beside nnU-Net's plans.json and dataset.json.
    """
    torch_device = resolve_device(device)  # before anything slow
    set_roots(nnunet_root)
    _set_budget(torch_device, threads, epochs, iterations_per_epoch, val_iterations_per_epoch, save_every)
    import torch

    importlib.import_module("hanseg.nnunet.trainer")  # imports nnU-Net, which reads its budget from the environment
    if torch_device.type == "cpu":
        torch.set_num_threads(max(threads, 1))
    trainer, plans, folder = _build_trainer(
        nnunet_root,
        dataset_id,
        dataset_name,
        configuration,
        fold,
        plans_file,
        trainer,
        expected_checkpoint,
        torch_device,
    )
    output = Path(trainer.output_folder)
    latest = folder / "checkpoint_latest.pth"
    resumed_from = None
    if latest.is_file():
        trainer.load_checkpoint(str(latest))
        resumed_from = trainer.current_epoch
        log.info("resuming fold %s from %s at epoch %d", fold, latest, resumed_from)
    started = time.perf_counter()
    trainer.run_training()
    if final_validation:
        trainer.perform_actual_validation(False)
    final = output / "checkpoint_final.pth"
    record = {
        "trainer": type(trainer).__name__,
        "plans": plans["plans_name"],
        "configuration": configuration,
        "fold": str(fold),
        "device": str(torch_device),
        "epochs": epochs,
        "iterations_per_epoch": iterations_per_epoch,
        "val_iterations_per_epoch": val_iterations_per_epoch,
        "checkpoint_every": save_every,
        "resumed_from_epoch": resumed_from,
        "inference_allowed_mirroring_axes": list(trainer.inference_allowed_mirroring_axes or ()),
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "versions": _versions(torch_device),
    }
    write_text_atomic(output / "hanseg_training.json", json.dumps(record, indent=1) + "\n")
    if model_record is not None:
        write_text_atomic(output.parent / MODEL_RECORD, json.dumps(model_record, indent=1) + "\n")
    return final


def _set_budget(
    torch_device, threads: int, epochs: int, iterations_per_epoch: int, val_iterations_per_epoch: int, save_every: int
) -> None:
    """nnU-Net's processes and HanSegTrainer's budget, through the environment: nnU-Net reads the former when it is
    imported, the trainer the latter when it is built (nnU-Net constructs trainers with a fixed signature)."""
    # nnU-Net ignores the job's allocation otherwise: augmentation workers and CPU threads follow `threads`.
    os.environ["nnUNet_n_proc_DA"] = str(max(threads - 1, 0) if torch_device.type != "cpu" else max(threads - 1, 1))
    os.environ["nnUNet_def_n_proc"] = str(threads)
    os.environ.update(
        {
            "HANSEG_NUM_EPOCHS": str(epochs),
            "HANSEG_ITERATIONS_PER_EPOCH": str(iterations_per_epoch),
            "HANSEG_VAL_ITERATIONS_PER_EPOCH": str(val_iterations_per_epoch),
            "HANSEG_SAVE_EVERY": str(save_every),
        }
    )


def _build_trainer(
    nnunet_root: Path | str,
    dataset_id: int,
    dataset_name: str,
    configuration: str,
    fold: str | int,
    plans_file: Path | str | None,
    trainer_name: str,
    expected_checkpoint: Path | str | None,
    torch_device,
) -> tuple:
    """The fold's trainer (told to continue when its folder holds a checkpoint_latest.pth), its plans and its folder;
    raises RuntimeError when nnU-Net's output folder is not the expected one."""
    from batchgenerators.utilities.file_and_folder_operations import load_json

    from hanseg.nnunet.trainer import trainer_class

    preprocessed = Path(os.environ["nnUNet_preprocessed"]) / dataset_folder_name(dataset_id, dataset_name)
    plans = load_json(str(plans_file or preprocessed / f"{PLANS_NAME}.json"))
    dataset_json = load_json(str(preprocessed / "dataset.json"))
    fold_value = fold if fold == "all" else int(fold)
    folder = (
        model_folder(
            nnunet_root, dataset_id, dataset_name, configuration, trainer=trainer_name, plans=plans["plans_name"]
        )
        / f"fold_{fold}"
    )
    if expected_checkpoint is not None and folder.resolve() != Path(expected_checkpoint).parent.resolve():
        raise RuntimeError(f"nnU-Net will write fold {fold} into {folder}, not beside {expected_checkpoint}")
    latest = folder / "checkpoint_latest.pth"
    plans["continue_training"] = latest.is_file()  # nnU-Net's logger appends to the earlier run's log then
    trainer = trainer_class(trainer_name)(plans, configuration, fold_value, dataset_json, torch_device)
    output = Path(trainer.output_folder)
    if output.resolve() != folder.resolve():
        raise RuntimeError(f"nnU-Net's output folder {output} is not the expected {folder}")
    return trainer, plans, folder


def _versions(torch_device) -> dict:
    """The versions that trained the model, from the env that trained it (provenance reads them from here)."""
    import torch

    return {
        "nnunetv2": metadata.version("nnunetv2"),
        "torch": torch.__version__,
        "cuda (torch build)": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else None,
    }
